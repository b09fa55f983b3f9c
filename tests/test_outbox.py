"""The transactional outbox against a real restate-server (SQLite or PostgreSQL, whichever the run uses).

A send made with ``send_on_commit`` is a row written in the caller's transaction: rolled back
with it (nothing sent, nothing left), sent right after the commit, delivered by a relay when
Restate could not be reached, refused for good (and shown in the admin) when Restate answers
4xx, held for a person once it is older than Restate's idempotency retention.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import pytest
import restate
from django.contrib.admin.models import CHANGE, DELETION, LogEntry
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.db import transaction
from django.test import Client, override_settings
from django.utils import timezone

from django_restate import Service
from django_restate.admin_api import AdminAPI
from django_restate.admin_api.sql import quote
from django_restate.client import client
from django_restate.exceptions import InvalidPayload, SendOnCommitFailed
from django_restate.models import OutboxMessage
from django_restate.outbox import flush
from django_restate.outbox.record import COMMIT_GRACE
from django_restate.outbox.relay import Relay, claim, delete_delivered, due
from django_restate.testing.server import free_port
from tests.runtime_app.models import Delivery, Ticket
from tests.runtime_app.restate_services import Letter, RuntimeMailer

pytestmark = pytest.mark.e2e
admin_urls = pytest.mark.urls("demo_project.urls")

OUTBOX = "/admin/django_restate/outboxmessage/"
Status = OutboxMessage.Status


class NeverDeployed(Service):
    """Known to this code, unknown to Restate: what a send looks like right after a bad deploy."""

    async def run(self, ctx: restate.Context, letter: Letter) -> None: ...


@contextmanager
def committing() -> Iterator[None]:
    """``transaction.atomic()``, then wait until the fast path's outcomes are written down (a thread does it)."""
    with transaction.atomic():
        yield
    assert flush()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def deliver():
    return client.service(RuntimeMailer).deliver


def invocations_with_key(admin: AdminAPI, key: str) -> list[dict]:
    return admin.query(
        f"SELECT id FROM sys_invocation WHERE target_service_name = 'RuntimeMailer' AND idempotency_key = {quote(key)}"
    )


@pytest.fixture
def relay() -> Iterator[Relay]:
    relay = Relay(poll_interval=0.05)
    yield relay
    relay.close()


def ingress_down(live) -> override_settings:
    """RESTATE pointed at a port nothing listens on: the ingress is down."""
    return override_settings(RESTATE={**live.settings(), "INGRESS_URL": f"http://127.0.0.1:{free_port()}"})


@pytest.fixture
def restate_down(restate_live):
    with ingress_down(restate_live):
        yield


def wait_for_deliveries(tag: str, timeout: float = 20.0) -> None:
    """Until the handler's side effect for ``tag`` is there (it runs after Restate accepted the send)."""
    deadline = time.monotonic() + timeout
    while not Delivery.objects.filter(tag=tag).exists():
        assert time.monotonic() < deadline, f"no delivery of {tag} in {timeout}s"
        time.sleep(0.05)


# -- the fast path --------------------------------------------------------------------------


def test_commit_writes_a_row_and_sends_it_at_once(restate_live):
    key, tag = unique("request"), unique("tag")
    with committing():
        ticket = Ticket.objects.create(subject="s")
        pending = deliver().send_on_commit(Letter(tag=tag, ticket_id=ticket.pk), idempotency_key=key)
        row = OutboxMessage.objects.get(pk=pending.message_id)  # in the same transaction
        assert (row.status, row.attempts, row.idempotency_key, row.target) == (
            Status.PENDING,
            0,
            key,
            "RuntimeMailer/deliver",
        )
        assert pending.handle is None  # nothing is sent before COMMIT
    assert pending.handle is not None and pending.handle.status == "Accepted"
    assert pending.handle.attach() == f"delivered {tag}"
    row.refresh_from_db()
    assert (row.status, row.attempts, row.invocation_id, row.last_error) == (
        Status.DELIVERED,
        1,
        pending.handle.invocation_id,
        "",
    )
    assert row.claimed_until is None and row.delivered_at is not None
    assert Delivery.objects.filter(tag=tag).count() == 1


def test_bad_input_is_refused_before_anything_commits(restate_live):
    with pytest.raises(SendOnCommitFailed) as raised, transaction.atomic():
        Ticket.objects.create(subject="never committed")
        deliver().send_on_commit({"tag": "x"}, idempotency_key="k")
    assert isinstance(raised.value, InvalidPayload)
    assert not Ticket.objects.filter(subject="never committed").exists()
    assert not OutboxMessage.objects.exists()


# -- (d) rolled back: nothing sent, no row left -----------------------------------------------


def test_rolled_back_transaction_and_savepoint_send_nothing_and_leave_no_row(restate_live):
    key, kept, dropped, gone = unique("request"), unique("kept"), unique("dropped"), unique("gone")
    with committing():
        Ticket.objects.create(subject="rolled back")
        deliver().send_on_commit(Letter(tag=gone, ticket_id=0), idempotency_key=unique("gone"))
        transaction.set_rollback(True)
    with committing():
        first = deliver().send_on_commit(Letter(tag=kept, ticket_id=0), idempotency_key=key)
        try:
            with transaction.atomic():
                deliver().send_on_commit(Letter(tag=dropped, ticket_id=0), idempotency_key=key)
                raise RuntimeError("undo the inner block")
        except RuntimeError:
            pass
        second = deliver().send_on_commit(Letter(tag=kept, ticket_id=1), idempotency_key=key)
    # Numbered after what is still queued: the dropped send does not shift the next one.
    assert (first.idempotency_key, second.idempotency_key) == (key, f"{key}#2")
    first.handle.attach()
    second.handle.attach()
    assert list(OutboxMessage.objects.values_list("pk", flat=True).order_by("pk")) == [
        first.message_id,
        second.message_id,
    ]
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {Status.DELIVERED}
    assert Delivery.objects.filter(tag=kept).count() == 2
    assert not Delivery.objects.filter(tag__in=[dropped, gone]).exists()
    assert not Ticket.objects.filter(subject="rolled back").exists()
    assert invocations_with_key(restate_live.admin, f"{key}#3") == []


# -- Restate down at commit time: the view succeeds, a relay delivers --------------------------


@pytest.mark.urls("tests.runtime_app.urls")
def test_restate_down_at_commit_is_no_failure_and_a_relay_delivers_once(restate_live, relay, caplog):
    tags = [unique("tag") for _ in range(5)]
    body = json.dumps({"subject": "printer on fire", "tags": tags})
    with ingress_down(restate_live), caplog.at_level(logging.WARNING, "django_restate.outbox"):
        response = Client().post("/tickets/", body, content_type="application/json")
        flush()
        assert response.status_code == 200, response.content
        assert response.json()["sent"] == []
        # While Restate stays down, a relay round sends one probe, not every row.
        done = asyncio.run(relay.run_once())
        assert (done.down, done.delivered, done.claimed) == (True, 0, 1)
    rows = list(OutboxMessage.objects.order_by("pk"))
    assert len(rows) == 5 and {r.status for r in rows} == {Status.PENDING}
    # The first send at commit found Restate down; the next four did not wait for it again: they
    # keep the commit's claim for COMMIT_GRACE, then they are any relay's.
    assert "Cannot reach the Restate ingress" in rows[0].last_error and rows[0].attempts == 2  # commit, probe
    assert [(r.attempts, r.claimed_by) for r in rows[1:]] == [(0, "commit")] * 4
    [warning] = [r for r in caplog.records if r.levelno >= logging.WARNING and "after the commit" in r.getMessage()]

    done = asyncio.run(relay.run_once())  # Restate is reachable again
    assert (done.down, done.delivered) == (False, 1)
    done = asyncio.run(relay.run_once(now=timezone.now() + COMMIT_GRACE))
    assert (done.down, done.delivered) == (False, 4)
    for tag in tags:
        wait_for_deliveries(tag)
    assert {r.status for r in OutboxMessage.objects.all()} == {Status.DELIVERED}
    assert asyncio.run(relay.run_once(now=timezone.now() + COMMIT_GRACE)).claimed == 0
    assert Delivery.objects.filter(tag__in=tags).count() == 5


def test_a_second_delivery_of_a_row_is_harmless(restate_live):
    """A relay whose lease ran out sends a row again: the idempotency key makes Restate answer with the
    first invocation."""
    tag = unique("tag")
    with committing():
        pending = deliver().send_on_commit(Letter(tag=tag, ticket_id=0))
    first = pending.handle
    again = pending.send()
    assert (again.invocation_id, again.status) == (first.invocation_id, "PreviouslyAccepted")
    first.attach()
    assert Delivery.objects.filter(tag=tag).count() == 1
    assert OutboxMessage.objects.get(pk=pending.message_id).attempts == 2


def test_a_delay_counts_from_the_commit_not_from_the_late_delivery(restate_live, relay, restate_down):
    tag = unique("tag")
    with committing():
        pending = deliver().send_on_commit(Letter(tag=tag, ticket_id=0), delay=timedelta(hours=1))
    # The relay delivers it 59 minutes late: Restate is asked to wait for the one minute left.
    OutboxMessage.objects.filter(pk=pending.message_id).update(created_at=timezone.now() - timedelta(minutes=59))
    with override_settings(RESTATE={**restate_live.settings()}):
        assert asyncio.run(relay.run_once()).delivered == 1
    row = OutboxMessage.objects.get(pk=pending.message_id)
    # restate_live kills it when the test ends: not left to run a minute later, in the middle of
    # another test, its step writing a Delivery row to the shared test database.
    [invocation] = restate_live.admin.query(f"SELECT * FROM sys_invocation WHERE id = {quote(row.invocation_id)}")
    scheduled = datetime.fromisoformat(invocation["scheduled_start_at"])
    created = datetime.fromisoformat(invocation["created_at"])
    assert timedelta(seconds=50) < scheduled - created < timedelta(seconds=70)


# -- (e) Restate refuses: failed, not retried, shown ------------------------------------------


@admin_urls
def test_a_4xx_marks_the_row_failed_with_restates_message_and_it_is_not_retried(restate_live, relay, admin_client):
    with committing():
        pending = client.service(NeverDeployed).run.send_on_commit(Letter(tag="x", ticket_id=0))
    row = OutboxMessage.objects.get(pk=pending.message_id)
    assert row.status == Status.FAILED
    assert row.last_error.startswith("404 ") and "NeverDeployed" in row.last_error, row.last_error
    assert pending.handle is None and pending.error == row.last_error
    assert asyncio.run(relay.run_once()).claimed == 0  # no relay tries it again
    assert OutboxMessage.objects.get(pk=row.pk).attempts == 1

    page = admin_client.get(OUTBOX).content.decode()
    assert "NeverDeployed/run" in page and "failed" in page and "404" in page
    assert "NeverDeployed/run" in admin_client.get(OUTBOX + "?state=failed").content.decode()
    assert "NeverDeployed/run" not in admin_client.get(OUTBOX + "?state=pending").content.decode()


# -- idempotency retention: overdue rows wait for a person -------------------------------------


def test_overdue_boundary(restate_live, relay):
    """At exactly OUTBOX_OVERDUE_AFTER a pending row is overdue (no relay sends it); a second younger, it is sent."""
    after = timedelta(hours=23)
    with ingress_down(restate_live), committing():
        held = deliver().send_on_commit(Letter(tag=unique("held"), ticket_id=0))
        sent = deliver().send_on_commit(Letter(tag=unique("sent"), ticket_id=0))
    now = timezone.now() + COMMIT_GRACE  # past the commit's claim on the second row
    OutboxMessage.objects.filter(pk=held.message_id).update(created_at=now - after)
    OutboxMessage.objects.filter(pk=sent.message_id).update(created_at=now - after + timedelta(seconds=1))
    rows = {r.pk: r for r in OutboxMessage.objects.all()}
    assert rows[held.message_id].is_overdue(now) and not rows[sent.message_id].is_overdue(now)

    done = asyncio.run(relay.run_once(now=now))
    assert (done.claimed, done.delivered) == (1, 1)
    assert OutboxMessage.objects.get(pk=sent.message_id).status == Status.DELIVERED
    assert OutboxMessage.objects.get(pk=held.message_id).status == Status.PENDING
    with override_settings(RESTATE={**restate_live.settings(), "OUTBOX_OVERDUE_AFTER": 48 * 3600}):
        assert not OutboxMessage.objects.get(pk=held.message_id).is_overdue(now)


@admin_urls
def test_overdue_rows_are_shown_and_sent_by_a_person(restate_live, admin_client, django_user_model):
    tag = unique("tag")
    with ingress_down(restate_live), committing():
        pending = deliver().send_on_commit(Letter(tag=tag, ticket_id=0))
    OutboxMessage.objects.filter(pk=pending.message_id).update(created_at=timezone.now() - timedelta(days=2))
    page = admin_client.get(OUTBOX + "?state=overdue").content.decode()
    assert "RuntimeMailer/deliver" in page and "overdue" in page and "2\xa0days" in page
    assert "Cannot reach the Restate ingress" in page

    response = admin_client.post(
        OUTBOX, {"action": "send_selected", "_selected_action": [pending.message_id]}, follow=True
    )
    assert "Send now: 1 delivered" in response.content.decode()
    wait_for_deliveries(tag)
    row = OutboxMessage.objects.get(pk=pending.message_id)
    assert row.status == Status.DELIVERED
    entry = LogEntry.objects.get(object_id=str(row.pk))
    assert entry.action_flag == CHANGE and "Sent now: delivered" in entry.get_change_message()


# -- the admin's actions need their own permissions ------------------------------------------


def staff(django_user_model, *codenames):
    user = django_user_model.objects.create_user(uuid.uuid4().hex[:8], password="pw", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="django_restate", codename__in=codenames)
    )
    browser = Client()
    browser.force_login(user)
    return browser


@admin_urls
def test_send_now_and_discard_need_their_permissions(restate_live, django_user_model, restate_down):
    with committing():
        pending = deliver().send_on_commit(Letter(tag=unique("tag"), ticket_id=0))
    form = {"_selected_action": [pending.message_id]}

    assert staff(django_user_model).get(OUTBOX).status_code == 403
    viewer = staff(django_user_model, "view_outboxmessage")
    page = viewer.get(OUTBOX).content.decode()
    assert "RuntimeMailer/deliver" in page and "send_selected" not in page and "discard_selected" not in page
    assert viewer.post(OUTBOX, {**form, "action": "discard_selected"}).status_code == 200  # "no such action"
    assert OutboxMessage.objects.filter(pk=pending.message_id).exists()
    assert viewer.get(f"{OUTBOX}{pending.message_id}/change/").status_code == 200  # read-only detail

    sender = staff(django_user_model, "view_outboxmessage", "send_outboxmessage")
    page = sender.get(OUTBOX).content.decode()
    assert "send_selected" in page and "discard_selected" not in page
    response = sender.post(OUTBOX, {**form, "action": "send_selected"}, follow=True)
    assert "Send now: 1 down" in response.content.decode()  # Restate is still down: it stays pending
    assert OutboxMessage.objects.get(pk=pending.message_id).status == Status.PENDING

    discarder = staff(django_user_model, "view_outboxmessage", "discard_outboxmessage")
    response = discarder.post(OUTBOX, {**form, "action": "discard_selected"}, follow=True)
    assert "Discarded 1 outbox message" in response.content.decode()
    assert not OutboxMessage.objects.filter(pk=pending.message_id).exists()
    flags = sorted(LogEntry.objects.filter(object_id=str(pending.message_id)).values_list("action_flag", flat=True))
    assert flags == [CHANGE, DELETION]


# -- claims, cleanup, the command, the lifespan ------------------------------------------------


def test_two_relays_never_claim_the_same_row(restate_live, restate_down):
    with committing():
        for _ in range(10):
            deliver().send_on_commit(Letter(tag=unique("tag"), ticket_id=0))
    now = timezone.now() + COMMIT_GRACE  # past the commit's claim
    first = claim(due("default", now), "relay-a", 6, now)
    second = claim(due("default", now), "relay-b", 6, now)
    assert (len(first), len(second)) == (6, 4)
    assert not {r.pk for r in first} & {r.pk for r in second}
    assert claim(due("default", now), "relay-c", 6, now) == []
    # A relay that died: its claims run out, and the rows are due again.
    later = now + timedelta(minutes=2)
    assert len(claim(due("default", later), "relay-c", 20, later)) == 10


def test_delivered_rows_are_deleted_after_the_retention(restate_live):
    with committing():
        old = deliver().send_on_commit(Letter(tag=unique("tag"), ticket_id=0))
        recent = deliver().send_on_commit(Letter(tag=unique("tag"), ticket_id=0))
    OutboxMessage.objects.filter(pk=old.message_id).update(delivered_at=timezone.now() - timedelta(days=1, seconds=1))
    assert delete_delivered("default") == 1
    assert list(OutboxMessage.objects.values_list("pk", flat=True)) == [recent.message_id]
    with override_settings(RESTATE={**restate_live.settings(), "OUTBOX_RETENTION": None}):
        OutboxMessage.objects.update(delivered_at=timezone.now() - timedelta(days=400))
        assert delete_delivered("default") == 0


def test_restate_relay_once_delivers_what_is_due(restate_live, capsys):
    tag = unique("tag")
    with ingress_down(restate_live):
        with committing():
            deliver().send_on_commit(Letter(tag=tag, ticket_id=0))
        with pytest.raises(Exception, match="unreachable"):
            call_command("restate_relay", "--once")
    call_command("restate_relay", "--once")
    assert "Delivered 1, failed 0" in capsys.readouterr().out
    wait_for_deliveries(tag)


def test_the_asgi_lifespan_runs_a_relay(restate_live, restate_down):
    from django_restate.asgi import lifespan

    tag = unique("tag")
    with committing():
        deliver().send_on_commit(Letter(tag=tag, ticket_id=0))

    async def serve() -> list[str]:
        inbox: asyncio.Queue[dict] = asyncio.Queue()
        sent: list[str] = []

        async def send(message):
            sent.append(message["type"])

        await inbox.put({"type": "lifespan.startup"})
        task = asyncio.create_task(lifespan(inbox.get, send))
        await asyncio.to_thread(wait_for_deliveries, tag)
        await inbox.put({"type": "lifespan.shutdown"})
        await task
        return sent

    with override_settings(RESTATE={**restate_live.settings(), "OUTBOX_RELAY": True, "OUTBOX_POLL_INTERVAL": 0.05}):
        assert asyncio.run(serve()) == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert OutboxMessage.objects.get().status == Status.DELIVERED


def test_the_outbox_threads_cost_invocations_no_thread_hops(restate_live, relay):
    """The endpoint closes stale connections of asgiref's thread around each invocation when some
    thread may hold one; the outbox's threads close their own, so they must not make it hop."""
    from django_restate import runtime
    from django_restate.outbox.marks import marker

    with committing():
        deliver().send_on_commit(Letter(tag=unique("tag"), ticket_id=0))
    asyncio.run(relay.run_once())
    relay_thread = relay._executor.submit(threading.current_thread).result()
    assert marker._thread is not None
    assert not {marker._thread, relay_thread} & set(runtime._threads_with_connections)


def test_a_relay_backs_off_while_restate_is_down(restate_live, restate_down):
    """Rounds 0.5 s, 1 s, 2 s apart while every probe fails: a handful of attempts, not a busy loop."""
    with committing():
        pending = deliver().send_on_commit(Letter(tag=unique("tag"), ticket_id=0))

    async def run_for(seconds: float) -> None:
        relay = Relay(poll_interval=0.01)
        relay.start()
        await asyncio.sleep(seconds)
        await relay.stop()

    asyncio.run(run_for(2.5))
    row = OutboxMessage.objects.get(pk=pending.message_id)
    # The commit's attempt, then probes at about 0 s, 0.5 s and 1.5 s.
    assert 3 <= row.attempts <= 5, row.attempts
    assert row.status == Status.PENDING and "Cannot reach the Restate ingress" in row.last_error


def test_outside_a_transaction_the_row_is_written_and_sent_at_once(restate_live):
    tag = unique("tag")
    pending = deliver().send_on_commit(Letter(tag=tag, ticket_id=0))  # autocommit: like on_commit, at once
    assert pending.handle is not None and pending.handle.status == "Accepted"
    assert flush()
    assert OutboxMessage.objects.get(pk=pending.message_id).status == Status.DELIVERED
    wait_for_deliveries(tag)
