"""Enqueue ``tasks.add(a, b)`` from the command line and print the result id (a cron job would)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from tests.tasks_app.tasks import add


class Command(BaseCommand):
    help = "Enqueue tests.tasks_app.tasks.add and print the TaskResult id."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("a", type=int)
        parser.add_argument("b", type=int)

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(add.enqueue(options["a"], options["b"]).id)
