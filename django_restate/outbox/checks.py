"""System checks for the outbox settings (``RESTATE["OUTBOX_*"]``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.checks import Error, Tags, Warning, register

from ..checks import seconds_problems
from ..conf import restate_settings
from .settings import duration

#: Restate's default idempotency retention: how long it remembers a key after the invocation.
RESTATE_KEY_RETENTION = timedelta(hours=24)


@register(Tags.compatibility)
def check_outbox_settings(app_configs: Any = None, **kwargs: Any) -> list[Error | Warning]:
    problems: list[Error | Warning] = []
    values: dict[str, timedelta | None] = {}
    for name in ("OUTBOX_RETENTION", "OUTBOX_OVERDUE_AFTER"):
        try:
            values[name] = duration(getattr(restate_settings, name))
        except ValueError as exc:
            problems.append(
                Error(
                    f"RESTATE[{name!r}] is not a duration: {exc}.",
                    hint="Give seconds (86400) or a datetime.timedelta.",
                    id="django_restate.E020",
                )
            )
    problems += seconds_problems("OUTBOX_POLL_INTERVAL", "The default is 1.0.", "django_restate.E020")
    if "OUTBOX_RETENTION" in values and values["OUTBOX_RETENTION"] is None:
        problems.append(
            Warning(
                "RESTATE['OUTBOX_RETENTION'] is None: delivered outbox rows are never deleted, so the "
                "django_restate_outboxmessage table grows with every send_on_commit.",
                hint="Keep delivered rows for a while instead, e.g. 'OUTBOX_RETENTION': 7 * 24 * 3600.",
                id="django_restate.W020",
            )
        )
    overdue = values.get("OUTBOX_OVERDUE_AFTER", timedelta(0))
    if overdue is not None and overdue > RESTATE_KEY_RETENTION:
        problems.append(
            Warning(
                f"RESTATE['OUTBOX_OVERDUE_AFTER'] is {overdue}, longer than Restate's default idempotency "
                "retention (24 h): a relay could send a row again after Restate forgot its key, and run it twice.",
                hint="Keep it below the idempotency retention of the services you send to (23 h by default).",
                id="django_restate.W021",
            )
        )
    return problems
