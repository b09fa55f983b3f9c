"""The outbox's settings (``RESTATE["OUTBOX_*"]``), read when needed, as durations."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from ..conf import restate_settings


def duration(value: object) -> timedelta | None:
    """A setting given as seconds or a ``timedelta``; None stays None. Raises ValueError otherwise."""
    if value is None or isinstance(value, timedelta):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return timedelta(seconds=value)
    raise ValueError(f"expected seconds (a number >= 0), a timedelta or None, got {value!r}")


def overdue_after() -> timedelta:
    return duration(restate_settings.OUTBOX_OVERDUE_AFTER) or timedelta(0)


def overdue_cutoff(now: datetime | None = None) -> datetime:
    """Rows created at or before this are overdue."""
    return (now or timezone.now()) - overdue_after()


def retention() -> timedelta | None:
    return duration(restate_settings.OUTBOX_RETENTION)


def poll_interval() -> float:
    return float(restate_settings.OUTBOX_POLL_INTERVAL)
