"""Two ``restate_relay`` processes against one outbox: each row is sent by one of them, once, and each
row's handler runs once. (The Django server here runs no relay of its own.) On PostgreSQL the relays
claim with ``SELECT ... FOR UPDATE SKIP LOCKED``; on SQLite with a conditional ``UPDATE`` and a lease,
the test database being a file both processes open."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection

from django_restate.admin_api import AdminAPI
from django_restate.deployments import register
from django_restate.models import OutboxMessage
from django_restate.testing.server import RestateServer
from tests.runtime_app.models import Delivery
from tests.runtime_app.restate_services import Letter

from .harness import ROOT, DjangoProcess

pytestmark = pytest.mark.e2e

ROWS = 300
Status = OutboxMessage.Status


@pytest.fixture(scope="module")
def handlers(
    restate: RestateServer, django_db_setup: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DjangoProcess]:
    log = tmp_path_factory.mktemp("uvicorn") / "uvicorn.log"
    env = {
        "DJANGO_SETTINGS_MODULE": "tests.reliability.outbox_settings",
        "RESTATE_INGRESS_URL": restate.ingress_url,
        "OUTBOX_RELAY": "0",
    }
    name = connection.settings_dict["NAME"]
    with DjangoProcess(name, log, env=env) as process:
        with AdminAPI(restate.admin_url) as admin:
            register(admin, process.deployment_url)
        yield process


def start_relay(restate: RestateServer, name: str, log: Any) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.reliability.outbox_settings",
        "RELIABILITY_DATABASE_NAME": connection.settings_dict["NAME"],
        "RESTATE_INGRESS_URL": restate.ingress_url,
        "PYTHONPATH": str(ROOT),
    }
    command = [sys.executable, "-m", "django", "restate_relay", "--name", name, "--batch-size", "20"]
    return subprocess.Popen([*command, "--poll-interval", "0.1"], cwd=ROOT, env=env, stdout=log, stderr=log)


def test_two_relays_send_each_row_once(
    handlers: DjangoProcess, restate: RestateServer, transactional_db: Any, tmp_path: Any
) -> None:
    run = uuid.uuid4().hex[:8]
    tags = [f"{run}-{n}" for n in range(ROWS)]
    with open(tmp_path / "relays.log", "wb") as log:
        relays = [start_relay(restate, f"relay-{n}", log) for n in (1, 2)]
        try:
            time.sleep(2)  # both are up and polling
            assert [r.poll() for r in relays] == [None, None]
            # Rows as a commit leaves them when its process dies before sending: untried, unclaimed.
            OutboxMessage.objects.bulk_create(
                OutboxMessage(
                    service="RuntimeMailer",
                    handler="deliver",
                    body=Letter(tag=tag, ticket_id=0).model_dump_json().encode(),
                    idempotency_key=f"{tag}-key",
                )
                for tag in tags
            )
            deadline = time.monotonic() + 60
            while OutboxMessage.objects.exclude(status=Status.DELIVERED).exists():
                assert time.monotonic() < deadline, "the relays did not deliver every row in 60 s"
                time.sleep(0.2)
        finally:
            for relay in relays:
                relay.terminate()
            codes = [relay.wait(20) for relay in relays]
    assert codes == [0, 0], (tmp_path / "relays.log").read_text()[-3000:]

    rows = list(OutboxMessage.objects.all())
    assert {r.attempts for r in rows} == {1}  # each row sent once, by one relay
    by_relay = {name: sum(1 for r in rows if r.claimed_by == name) for name in ("relay-1", "relay-2")}
    assert sum(by_relay.values()) == ROWS and min(by_relay.values()) > 0, by_relay
    deadline = time.monotonic() + 60
    while Delivery.objects.filter(tag__in=tags).count() < ROWS:
        assert time.monotonic() < deadline, "not every handler ran"
        time.sleep(0.2)
    time.sleep(1)
    counts: dict[str, int] = {}
    for tag in Delivery.objects.filter(tag__in=tags).values_list("tag", flat=True):
        counts[tag] = counts.get(tag, 0) + 1
    assert counts == dict.fromkeys(tags, 1)
