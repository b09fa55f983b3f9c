"""The outbox's system checks and ``restate_relay``'s arguments (no Restate server needed)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.checks import run_checks
from django.core.management import CommandError, call_command
from django.test import override_settings

OUTBOX_CHECKS = {"django_restate.E020", "django_restate.W020", "django_restate.W021"}
GOOD = {
    "ADMIN_URL": "http://127.0.0.1:9070",
    "INGRESS_URL": "http://127.0.0.1:8080",
    "DEPLOYMENT_URL": "http://127.0.0.1:8000/restate",
}


def outbox_ids(**restate) -> list[str]:
    with override_settings(RESTATE={**GOOD, **restate}, DEBUG=True):
        return sorted(m.id for m in run_checks() if m.id in OUTBOX_CHECKS)


def test_the_defaults_are_clean():
    assert outbox_ids() == []
    assert outbox_ids(OUTBOX_RETENTION=timedelta(days=7), OUTBOX_OVERDUE_AFTER=3600) == []


@pytest.mark.parametrize(
    "bad",
    [
        {"OUTBOX_RETENTION": "1 day"},
        {"OUTBOX_RETENTION": -1},
        {"OUTBOX_OVERDUE_AFTER": True},
        {"OUTBOX_POLL_INTERVAL": 0},
        {"OUTBOX_POLL_INTERVAL": "1"},
    ],
)
def test_bad_values_are_errors(bad):
    assert outbox_ids(**bad) == ["django_restate.E020"]


def test_an_unbounded_outbox_is_a_warning():
    with override_settings(RESTATE={**GOOD, "OUTBOX_RETENTION": None}, DEBUG=True):
        [warning] = [m for m in run_checks() if m.id == "django_restate.W020"]
    assert "never deleted" in warning.msg and "OUTBOX_RETENTION" in warning.hint


def test_overdue_after_longer_than_restates_key_retention_is_a_warning():
    assert outbox_ids(OUTBOX_OVERDUE_AFTER=timedelta(hours=25)) == ["django_restate.W021"]
    assert outbox_ids(OUTBOX_OVERDUE_AFTER=timedelta(hours=24)) == []


def test_restate_relay_refuses_a_database_without_an_outbox(db):
    with pytest.raises(CommandError, match="'nope' has no outbox"):
        call_command("restate_relay", "--once", "--database", "nope")
