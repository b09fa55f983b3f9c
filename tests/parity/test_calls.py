"""Calls and sends between services: by method or by name, typed, delayed, attached."""

from __future__ import annotations

import pytest

from django_restate.exceptions import HandlerError
from tests.parity_app.restate_services import (
    CounterCall,
    Delayed,
    Item,
    ParityApproval,
    ParityCounter,
    ParityRelay,
    ParityTimeline,
)

pytestmark = [pytest.mark.restate_parity, pytest.mark.restate_mock(replay_check=True)]


def test_call_a_service_by_method(restate_backend):
    assert restate_backend.service(ParityRelay).call_service("Ada") == "hello Ada"


def test_typed_call_returns_a_model(restate_backend):
    result = restate_backend.service(ParityRelay).call_typed(Item(name="tea", qty=2))
    assert result == {"type": "Item", "value": {"name": "TEA", "qty": 4}}


def test_call_an_object_by_method(restate_backend, key):
    assert restate_backend.service(ParityRelay).call_object(CounterCall(key=key, n=3)) == 3
    assert restate_backend.object(ParityCounter, key).count() == 3


def test_call_by_name(restate_backend, key):
    assert restate_backend.service(ParityRelay).call_generic(key) == 5


def test_call_a_workflow_shared_handler(restate_backend, key):
    assert restate_backend.service(ParityRelay).call_workflow_shared(key) is None


def test_send_runs_later(restate_backend, key):
    assert restate_backend.service(ParityRelay).send_object(key) is True
    restate_backend.eventually(lambda: _assert_count(restate_backend, key, 1))


def _assert_count(restate_backend, key, expected):
    assert restate_backend.object(ParityCounter, key).count() == expected


def test_delayed_send_respects_the_delay(restate_backend, key):
    sent_at = restate_backend.service(ParityRelay).send_delayed(Delayed(key=key, ms=60))

    def marked():
        marks = restate_backend.object(ParityTimeline, key).marks()
        assert marks, "not delivered yet"
        return marks

    [[label, at]] = restate_backend.eventually(marked)
    assert label == "delayed"
    assert at - sent_at >= 0.06


def test_attach_to_a_sent_invocation(restate_backend, key):
    assert restate_backend.service(ParityRelay).send_then_attach(key) == 7


def test_terminal_error_reaches_the_caller_with_its_code(restate_backend, key):
    assert restate_backend.service(ParityRelay).catch_terminal(key) == "422:refused after writing"


def test_bad_input_between_services_is_a_400(restate_backend, key):
    result = restate_backend.service(ParityRelay).call_bad_input(key)
    assert result.startswith("400:Bad input: payload: Input should be a valid integer")


def test_send_from_the_test(restate_backend, key):
    handle = restate_backend.object(ParityCounter, key).add.send(4)
    assert handle.invocation_id.startswith("inv_")
    assert handle.attach() == 4


def test_delayed_send_from_the_test(restate_backend, key):
    handle = restate_backend.object(ParityCounter, key).add.send(6, delay=0.05)
    assert handle.attach() == 6


def test_unknown_handler_attribute(restate_backend):
    with pytest.raises(AttributeError, match="ParityRelay has no handler 'nope'"):
        restate_backend.service(ParityRelay).nope  # noqa: B018


def test_workflow_shared_handler_before_the_run(restate_backend, key):
    assert restate_backend.workflow(ParityApproval, key).status() is None


def test_invalid_input_from_the_test_is_refused(restate_backend):
    from django_restate.exceptions import InvalidPayload

    with pytest.raises(InvalidPayload):
        restate_backend.service(ParityRelay).echo_item({"name": "tea", "qty": "many"})


def test_handler_error_of_a_call(restate_backend, key):
    with pytest.raises(HandlerError) as failure:
        restate_backend.object(ParityCounter, key).set_then_fail(1)
    assert failure.value.status_code == 422
