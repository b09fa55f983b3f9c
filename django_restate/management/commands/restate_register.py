"""``python manage.py restate_register``: register this project's endpoint with Restate."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_restate._http import redact_url
from django_restate.admin_api import AdminAPI, AdminAPIError, AdminAPIUnreachable
from django_restate.checks import is_http_url
from django_restate.conf import DEFAULTS, restate_settings
from django_restate.deployments import (
    DeploymentUnreachable,
    Registration,
    drift,
    our_deployment_ids,
    prune,
    register,
    served_services,
    superseded,
)
from django_restate.registry import NotRegistered


def header(value: str) -> tuple[str, str]:
    name, sep, content = value.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected 'Name: value', got {value!r}")
    return name.strip(), content.strip()


class Command(BaseCommand):
    help = "Register this Django project's Restate endpoint (RESTATE['DEPLOYMENT_URL']) with the Restate server."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("url", nargs="?", help="Deployment URL (default: RESTATE['DEPLOYMENT_URL']).")
        parser.add_argument("--admin-url", help="Restate admin API (default: RESTATE['ADMIN_URL']).")
        parser.add_argument("--dry-run", action="store_true", help="Run discovery and print, register nothing.")
        parser.add_argument(
            "--force",
            action=argparse.BooleanOptionalAction,
            default=True,
            help="Replace an existing deployment at the same URL (default). --no-force refuses breaking changes.",
        )
        parser.add_argument(
            "--check",
            action="store_true",
            help="Register nothing; exit 1 when Restate's services and handlers differ from the code.",
        )
        parser.add_argument(
            "--services",
            type=lambda value: [n.strip() for n in value.split(",") if n.strip()],
            metavar="NAME,NAME",
            help="The services the deployment at the URL serves (default: RESTATE['SERVICES'], else all).",
        )
        parser.add_argument(
            "--prune",
            action="store_true",
            help="After registering, remove the deployments this one superseded once nothing is pinned to them "
            "(a deployment still draining invocations is kept and reported).",
        )
        parser.add_argument(
            "-H",
            "--header",
            type=header,
            action="append",
            default=[],
            metavar="'NAME: VALUE'",
            help="Extra header for the admin API, e.g. 'Authorization: Bearer ...'. Repeatable.",
        )
        parser.add_argument(
            "--deployment-header",
            type=header,
            action="append",
            default=[],
            metavar="'NAME: VALUE'",
            help="Header Restate sends with every request to the deployment. Repeatable.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        url = options["url"] or restate_settings.DEPLOYMENT_URL
        admin_url = options["admin_url"] or restate_settings.ADMIN_URL
        for what, value, example in (
            ("deployment URL", url, DEFAULTS["DEPLOYMENT_URL"]),
            ("admin URL", admin_url, DEFAULTS["ADMIN_URL"]),
        ):
            if not is_http_url(value):
                raise CommandError(
                    f"The {what} {redact_url(value)!r} is not an http(s) URL; give a full URL such as {example}."
                )
        try:
            served = served_services(options["services"])
        except (NotRegistered, TypeError) as exc:
            raise CommandError(str(exc)) from None
        with AdminAPI(admin_url, headers=dict(options["header"])) as admin:
            try:
                if options["check"]:
                    self.check_drift(admin, url, served)
                    return
                result = register(
                    admin,
                    url,
                    force=options["force"],
                    dry_run=options["dry_run"],
                    deployment_headers=dict(options["deployment_header"]),
                )
                self.report(result, options["dry_run"], served)
                if result.deployment_id and not options["dry_run"]:
                    self.report_superseded(admin, result, options["prune"])
            except (AdminAPIUnreachable, AdminAPIError, DeploymentUnreachable) as exc:
                raise CommandError(str(exc)) from None

    def report(self, result: Registration, dry_run: bool, served: list[Any]) -> None:
        verb = "Would register" if dry_run else "Registered"
        ident = f" as {result.deployment_id}" if result.deployment_id else ""
        self.stdout.write(self.style.SUCCESS(f"{verb} {redact_url(result.uri)}{ident} over {result.protocol}."))
        for service in sorted(result.services, key=lambda s: s["name"]):
            self.stdout.write(f"  {service['name']} ({service.get('ty')})")
            for handler in service.get("handlers", []):
                kind = f" [{handler['ty']}]" if handler.get("ty") else ""
                self.stdout.write(f"    {handler['name']}{kind}")
        discovered = {s["name"] for s in result.services}
        expected = {s.name for s in served}
        if discovered != expected:
            self.stderr.write(
                self.style.WARNING(
                    f"The endpoint serves {', '.join(sorted(discovered)) or 'nothing'}, but this project expects "
                    f"{', '.join(sorted(expected)) or 'nothing'} there (RESTATE['SERVICES'] or --services)."
                )
            )

    def report_superseded(self, admin: AdminAPI, result: Registration, prune_drained: bool) -> None:
        old = superseded(admin, result)
        removed = {d.deployment_id for d in prune(admin, old)} if prune_drained else set()
        for deployment in old:
            uri = redact_url(deployment.uri)
            if deployment.deployment_id in removed:
                self.stdout.write(f"Removed {deployment.deployment_id} ({uri}): superseded and drained.")
            elif deployment.drained:
                self.stdout.write(f"Superseded: {deployment.deployment_id} ({uri}), drained; --prune removes it.")
            else:
                self.stdout.write(
                    f"Superseded: {deployment.deployment_id} ({uri}), {deployment.pinned} invocation(s) "
                    "still pinned to it; keep its replicas running until they finish, then run with --prune."
                )

    def check_drift(self, admin: AdminAPI, url: str, served: list[Any]) -> None:
        lines = drift(admin.services(), served, deployment_ids=our_deployment_ids(admin, url))
        if lines:
            for line in lines:
                self.stderr.write(f"  {line}")
            raise CommandError(f"Restate differs from the code in {len(lines)} place(s); run restate_register.")
        self.stdout.write(self.style.SUCCESS("Restate's services and handlers match the code."))
