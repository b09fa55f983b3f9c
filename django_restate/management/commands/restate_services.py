"""``python manage.py restate_services``: what autodiscovery found in this project."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from django_restate.deployments import expected
from django_restate.registry import registry


def type_name(annotation: Any) -> str:
    if getattr(annotation, "__args__", None) or not hasattr(annotation, "__name__"):
        return str(annotation).replace("typing.", "")  # dict[str, int], Optional[...]
    return str(annotation.__name__)


class Command(BaseCommand):
    help = "List the Restate services and handlers discovered in the installed apps."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print JSON instead of text.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["json"]:
            data = [{"name": s.name, "class": s.label, **expected(s)} for s in registry]
            self.stdout.write(json.dumps(data, indent=2))
            return
        if not len(registry):
            self.stdout.write("No Restate services found. Define them in <app>/restate_services.py.")
            return
        for spec in registry:
            self.stdout.write(self.style.MIGRATE_HEADING(f"{spec.name} ({expected(spec)['type']})  {spec.label}"))
            for h in spec.handlers:
                kind = f" [{h.kind}]" if h.kind else ""
                arg = "" if not h.takes_input else type_name(h.input_type)
                self.stdout.write(f"  {h.name}({arg}) -> {type_name(h.output_type)}{kind}")
