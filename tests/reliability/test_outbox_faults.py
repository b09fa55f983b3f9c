"""The outbox through faults, with the project served by uvicorn in a subprocess (its lifespan runs
the relay) and a real restate-server: (a) Restate stopped while 200 orders commit, (b) the Django
process killed with SIGKILL after a COMMIT and before its send. Every order's handler runs exactly
once: each run writes a ``Delivery`` row (deliberately not idempotent), and the tests count them.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from django_restate.admin_api import AdminAPI
from django_restate.deployments import register
from django_restate.models import OutboxMessage
from django_restate.testing.server import RestateServer
from tests.runtime_app.models import Delivery, Ticket

from .harness import DjangoProcess

pytestmark = pytest.mark.e2e

ORDERS = 200
Status = OutboxMessage.Status


@pytest.fixture(scope="module")
def shop(
    restate: RestateServer, django_db_setup: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DjangoProcess]:
    """The order views under uvicorn, with the outbox relay in its lifespan."""
    from django.db import connection

    log = tmp_path_factory.mktemp("uvicorn") / "uvicorn.log"
    env = {"DJANGO_SETTINGS_MODULE": "tests.reliability.outbox_settings", "RESTATE_INGRESS_URL": restate.ingress_url}
    name = connection.settings_dict["NAME"]
    with DjangoProcess(name, log, env=env) as p:
        with AdminAPI(restate.admin_url) as admin:
            register(admin, p.deployment_url)
        yield p


@pytest.fixture
def live_shop(shop: DjangoProcess, restate: RestateServer, transactional_db: Any) -> DjangoProcess:
    shop.ensure_running()
    if restate.process is None or restate.process.poll() is not None:
        restate.start()
    return shop


def wait_until(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {timeout}s"
        time.sleep(0.2)


def deliveries(tags: list[str]) -> dict[str, int]:
    counts = dict.fromkeys(tags, 0)
    for tag in Delivery.objects.filter(tag__in=tags).values_list("tag", flat=True):
        counts[tag] += 1
    return counts


def test_restate_stopped_while_200_orders_commit_every_view_succeeds_and_each_runs_once(
    live_shop: DjangoProcess, restate: RestateServer
) -> None:
    run = uuid.uuid4().hex[:8]
    tags = [f"{run}-{n}" for n in range(ORDERS)]
    restate.stop()
    with httpx.Client(base_url=live_shop.url, timeout=30) as http:
        answers = [http.post("/orders/", json={"tag": tag}) for tag in tags]
    assert [a.status_code for a in answers] == [200] * ORDERS
    assert not any(a.json()["sent"] for a in answers)
    assert "Cannot reach the Restate ingress" in answers[0].json()["error"]
    assert Ticket.objects.filter(subject__in=tags).count() == ORDERS  # every order committed
    assert OutboxMessage.objects.filter(status=Status.PENDING).count() == ORDERS
    assert Delivery.objects.filter(tag__in=tags).count() == 0

    restate.start()
    wait_until(lambda: not OutboxMessage.objects.exclude(status=Status.DELIVERED).exists(), 90, "all delivered")
    wait_until(lambda: Delivery.objects.filter(tag__in=tags).count() >= ORDERS, 60, "every handler ran")
    time.sleep(1)  # a duplicate run would land now
    assert deliveries(tags) == dict.fromkeys(tags, 1)


def test_killed_after_the_commit_before_the_send_is_delivered_once_after_the_restart(
    live_shop: DjangoProcess,
) -> None:
    tag = f"{uuid.uuid4().hex[:8]}-killed"
    with httpx.Client(base_url=live_shop.url, timeout=30) as http, pytest.raises(httpx.TransportError):
        http.post("/orders/die/", json={"tag": tag})
    # The view SIGKILLed the process serving it: uvicorn itself (-9), or granian's worker, after
    # which granian's main process exits with an error of its own.
    assert live_shop.process is not None and live_shop.process.wait(10) in (-9, 1)
    # Committed, never sent: the row is there, untried, held by the dead process's commit for a moment.
    row = OutboxMessage.objects.get()
    assert (row.status, row.attempts, row.claimed_by) == (Status.PENDING, 0, "commit")
    assert Ticket.objects.filter(subject=tag).count() == 1 and not Delivery.objects.filter(tag=tag).exists()

    live_shop.start(timeout=60)  # bounded waits, generous for a loaded machine
    wait_until(lambda: OutboxMessage.objects.get().status == Status.DELIVERED, 60, "delivered after the restart")
    wait_until(lambda: Delivery.objects.filter(tag=tag).exists(), 60, "the handler ran")
    time.sleep(1)
    assert deliveries([tag]) == {tag: 1}
    assert OutboxMessage.objects.get().attempts == 1
