"""send_on_commit from a real view against a real restate-server: a rolled-back transaction
sends nothing; a committed one starts the handler exactly once, even when the client retries
the request with the same Idempotency-Key; an unreachable ingress is left to the outbox's
relay, not lost (more in tests/test_outbox.py)."""

from __future__ import annotations

import json
import logging
import uuid

import pytest
from django.db import transaction
from django.test import Client, override_settings

from django_restate.admin_api import AdminAPI
from django_restate.admin_api.sql import quote
from django_restate.client import client
from django_restate.exceptions import IngressError
from django_restate.testing.server import free_port
from tests.runtime_app.models import Delivery, Ticket
from tests.runtime_app.restate_services import Letter, RuntimeMailer

pytestmark = [pytest.mark.e2e, pytest.mark.urls("tests.runtime_app.urls")]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def open_ticket(tags: list[str], key: str | None, roll_back: bool = False) -> dict:
    headers = {"Idempotency-Key": key} if key else {}
    body = json.dumps({"subject": "printer on fire", "tags": tags, "roll_back": roll_back})
    response = Client().post("/tickets/", body, content_type="application/json", headers=headers)
    assert response.status_code == 200, response.content
    return response.json()


def invocations_with_key(admin: AdminAPI, idempotency_key: str) -> list[dict]:
    return admin.query(
        f"SELECT id, status FROM sys_invocation WHERE target_service_name = 'RuntimeMailer' "
        f"AND idempotency_key = {quote(idempotency_key)}"
    )


def test_rolled_back_transaction_sends_nothing(restate_live):
    key, tag = unique("request"), unique("tag")
    answer = open_ticket([tag], key, roll_back=True)
    assert answer["sent"] == []
    assert not Ticket.objects.filter(pk=answer["ticket"]).exists()
    # Restate has never heard of the key, so no invocation exists for it.
    assert invocations_with_key(restate_live.admin, key) == []
    with pytest.raises(IngressError) as raised:
        client.service(RuntimeMailer).deliver.invocation(idempotency_key=key).output()
    assert raised.value.status_code == 404
    assert not Delivery.objects.filter(tag=tag).exists()


def test_committed_transaction_runs_the_handler_once_even_when_retried(restate_live):
    key, tag = unique("request"), unique("tag")
    first = open_ticket([tag], key)
    (sent,) = first["sent"]
    assert (sent["key"], sent["status"]) == (key, "Accepted")
    assert client.invocation(sent["invocation_id"]).attach() == f"delivered {tag}"

    retried = open_ticket([tag], key)  # the client did not see the answer and retries
    (again,) = retried["sent"]
    assert (again["invocation_id"], again["status"]) == (sent["invocation_id"], "PreviouslyAccepted")
    assert client.service(RuntimeMailer).deliver.invocation(idempotency_key=key).attach() == f"delivered {tag}"

    # The view itself ran twice (it is not idempotent), the durable work once.
    assert Ticket.objects.filter(pk__in=[first["ticket"], retried["ticket"]]).count() == 2
    assert Delivery.objects.filter(tag=tag).count() == 1
    assert len(invocations_with_key(restate_live.admin, key)) == 1


def test_two_sends_in_one_request_both_run_and_neither_twice(restate_live):
    key, one, two = unique("request"), unique("one"), unique("two")
    sent = open_ticket([one, two], key)["sent"]
    assert [s["key"] for s in sent] == [key, f"{key}#2"]
    for s in sent:
        client.invocation(s["invocation_id"]).attach()
    assert [s["status"] for s in open_ticket([one, two], key)["sent"]] == ["PreviouslyAccepted"] * 2
    assert (Delivery.objects.filter(tag=one).count(), Delivery.objects.filter(tag=two).count()) == (1, 1)


def test_without_a_key_every_request_sends(restate_live):
    tag = unique("tag")
    for _ in range(2):
        (sent,) = open_ticket([tag], None)["sent"]
        client.invocation(sent["invocation_id"]).attach()
    assert Delivery.objects.filter(tag=tag).count() == 2


def test_savepoint_rollback_discards_its_sends(restate_live):
    key, kept, dropped = unique("request"), unique("kept"), unique("dropped")
    deliver = client.service(RuntimeMailer).deliver
    with transaction.atomic():
        first = deliver.send_on_commit(Letter(tag=kept, ticket_id=0), idempotency_key=key)
        try:
            with transaction.atomic():
                deliver.send_on_commit(Letter(tag=dropped, ticket_id=0), idempotency_key=key)
                raise RuntimeError("undo the inner block")
        except RuntimeError:
            pass
        # Numbered after what is still queued: the dropped send does not shift the next one.
        second = deliver.send_on_commit(Letter(tag=kept, ticket_id=1), idempotency_key=key, using="default")
        assert first.handle is None  # nothing is sent before COMMIT
    assert (first.idempotency_key, second.idempotency_key) == (key, f"{key}#2")
    first.handle.attach()
    second.handle.attach()
    assert Delivery.objects.filter(tag=kept).count() == 2
    assert not Delivery.objects.filter(tag=dropped).exists()


def test_unreachable_ingress_after_commit_is_logged_not_raised(restate_live, caplog):
    key, tag = unique("request"), unique("tag")
    deliver = client.service(RuntimeMailer).deliver
    down = {**restate_live.settings(), "INGRESS_URL": f"http://127.0.0.1:{free_port()}"}
    with (
        override_settings(RESTATE=down),
        caplog.at_level(logging.WARNING, "django_restate.outbox"),
        transaction.atomic(),
    ):
        ticket = Ticket.objects.create(subject="committed anyway")
        pending = deliver.send_on_commit(Letter(tag=tag, ticket_id=ticket.pk), idempotency_key=key)
    assert Ticket.objects.filter(pk=ticket.pk).exists()  # the transaction did commit
    assert "Cannot reach the Restate ingress" in pending.error
    assert pending.handle is None
    [warning] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "a relay will send it" in warning.getMessage()

    # The send is in the outbox; sent again (a relay does this) it starts the work once.
    handle = pending.send()
    assert handle.status == "Accepted"
    assert pending.send().status == "PreviouslyAccepted"
    handle.attach()
    assert Delivery.objects.filter(tag=tag).count() == 1


def test_bad_input_fails_before_commit(restate_live):
    from django_restate.exceptions import InvalidPayload

    with pytest.raises(InvalidPayload), transaction.atomic():
        Ticket.objects.create(subject="never committed")
        client.service(RuntimeMailer).deliver.send_on_commit({"tag": "x"}, idempotency_key="k")
    assert not Ticket.objects.filter(subject="never committed").exists()
