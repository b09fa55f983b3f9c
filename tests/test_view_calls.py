"""A Django view that calls a handler, sends to one and sends to another on commit, tested with
Django's test client twice: against the mock (``restate_mock``: the project's ``client`` runs the
handlers in-process, inside the test's transaction), and end to end against a real restate-server
(``restate_live``). The same view, the same requests, the same assertions on what ran."""

from __future__ import annotations

import json
import uuid

import pytest
from django.test import Client

from django_restate.client import HttpTransport, client
from django_restate.exceptions import IngressError
from tests.runtime_app.models import Delivery, Note, Ticket
from tests.runtime_app.restate_services import RuntimeMailer

pytestmark = pytest.mark.urls("tests.runtime_app.urls")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def post(path: str, data: dict, idempotency_key: str | None = None) -> dict:
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    response = Client().post(path, json.dumps(data), content_type="application/json", headers=headers)
    assert response.status_code == 200, response.content
    return response.json()


def texts(key: str) -> list[str]:
    return sorted(Note.objects.filter(key=key).values_list("text", flat=True))


# -- what both runs check -----------------------------------------------------------------------


def check_call_send_and_send_on_commit() -> None:
    key, tag, request = unique("notes"), unique("tag"), unique("request")
    answer = post("/notes/", {"key": key, "text": "first", "tag": tag}, request)
    assert answer["count"] == 1  # the call waited for the handler
    assert answer["key"] == request  # the request's key is the send's idempotency key
    assert client.invocation(answer["sent"]).attach()["count"] == 2  # the send ran, after the call
    assert client.service(RuntimeMailer).deliver.invocation(idempotency_key=request).attach() == f"delivered {tag}"
    assert texts(key) == ["first", "first (sent)"]
    assert Delivery.objects.filter(tag=tag, ticket_id=answer["ticket"]).count() == 1


def check_rolled_back_sends_nothing() -> None:
    key, tag, request = unique("notes"), unique("tag"), unique("request")
    answer = post("/notes/", {"key": key, "text": "undone", "tag": tag, "roll_back": True}, request)
    client.invocation(answer["sent"]).attach()  # the call and the send are not part of the transaction
    assert texts(key) == ["undone", "undone (sent)"]
    assert not Ticket.objects.filter(pk=answer["ticket"]).exists()
    with pytest.raises(IngressError) as raised:
        client.service(RuntimeMailer).deliver.invocation(idempotency_key=request).output()
    assert raised.value.status_code == 404  # never sent: Restate has not heard of the key
    assert not Delivery.objects.filter(tag=tag).exists()


def check_retried_request_delivers_once() -> None:
    key, tag, request = unique("notes"), unique("tag"), unique("request")
    first = post("/notes/", {"key": key, "text": "again", "tag": tag}, request)
    retried = post("/notes/", {"key": key, "text": "again", "tag": tag}, request)
    assert first["key"] == retried["key"] == request
    assert client.service(RuntimeMailer).deliver.invocation(idempotency_key=request).attach() == f"delivered {tag}"
    client.invocation(retried["sent"]).attach()
    assert Ticket.objects.filter(pk__in=[first["ticket"], retried["ticket"]]).count() == 2  # the view ran twice
    assert Delivery.objects.filter(tag=tag).count() == 1  # the durable work once
    assert len(texts(key)) == 4  # calls and sends without a key are not deduplicated


def check_async_view() -> None:
    key = unique("anotes")
    answer = post("/anotes/", {"key": key, "text": "async"})
    assert answer["count"] == 1
    assert client.invocation(answer["sent"]).attach()["count"] == 2
    assert texts(key) == ["async", "async (sent)"]


# -- with the mock: SQLite or PostgreSQL, whichever DATABASE_URL names ----------------------------


def test_mock_view_calls_sends_and_sends_on_commit(restate_mock):
    check_call_send_and_send_on_commit()


def test_mock_sends_wait_for_drain(restate_mock):
    key, tag = unique("notes"), unique("tag")
    answer = post("/notes/", {"key": key, "text": "queued", "tag": tag}, unique("request"))
    assert texts(key) == ["queued"]  # the call ran; the send and the send on commit are queued
    sent = {inv.id: inv.target for inv in restate_mock.pending_sends()}
    assert sent[answer["sent"]] == f"RuntimeNotebook/{key}/write"
    assert sorted(sent.values()) == sorted([f"RuntimeNotebook/{key}/write", "RuntimeMailer/deliver"])
    assert not Delivery.objects.filter(tag=tag).exists()
    restate_mock.drain()
    assert texts(key) == ["queued", "queued (sent)"]
    assert Delivery.objects.filter(tag=tag, ticket_id=answer["ticket"]).count() == 1


def test_mock_rolled_back_sends_nothing(restate_mock):
    check_rolled_back_sends_nothing()
    restate_mock.drain()
    assert not Delivery.objects.exists()


def test_mock_retried_request_delivers_once(restate_mock):
    check_retried_request_delivers_once()


def test_mock_async_view(restate_mock):
    check_async_view()


def test_mock_restate_context_manager_for_unittest_style_tests(db):
    from django_restate.testing import mock_restate

    with mock_restate() as restate:
        assert client.transport is restate.transport
        check_call_send_and_send_on_commit()
        assert {inv.target for inv in restate.invocations} >= {"RuntimeMailer/deliver"}
    assert isinstance(client.transport, HttpTransport)  # outside the block the client talks HTTP again


# -- end to end: the same view against a real restate-server --------------------------------------


@pytest.mark.e2e
def test_live_view_calls_sends_and_sends_on_commit(restate_live):
    check_call_send_and_send_on_commit()


@pytest.mark.e2e
def test_live_rolled_back_sends_nothing(restate_live):
    check_rolled_back_sends_nothing()


@pytest.mark.e2e
def test_live_retried_request_delivers_once(restate_live):
    check_retried_request_delivers_once()


@pytest.mark.e2e
def test_live_async_view(restate_live):
    check_async_view()
