"""Exclusive handlers hold their key; shared handlers and other keys do not wait; awakeables."""

from __future__ import annotations

import pytest

from django_restate.exceptions import HandlerError
from tests.parity.conftest import awakeable_of
from tests.parity_app.restate_services import ParityMailbox, ParityRelay, Resolve

pytestmark = [pytest.mark.restate_parity, pytest.mark.restate_mock(replay_check=True)]


def test_awakeable_resolved_from_the_test(restate_backend, key):
    handle = restate_backend.object(ParityMailbox, key).wait.send("a")
    restate_backend.resolve_awakeable(awakeable_of(restate_backend, ParityMailbox, key), "hi")
    assert handle.attach() == "a:hi"


def test_awakeable_rejected_from_the_test(restate_backend, key):
    handle = restate_backend.object(ParityMailbox, key).wait_rejected.send()
    restate_backend.reject_awakeable(awakeable_of(restate_backend, ParityMailbox, key), "no thanks")
    assert handle.attach() == "500:no thanks"


def test_awakeable_resolved_by_another_handler(restate_backend, key):
    handle = restate_backend.object(ParityMailbox, key).wait.send("b")
    awakeable_id = awakeable_of(restate_backend, ParityMailbox, key)
    restate_backend.service(ParityRelay).resolve(Resolve(awakeable_id=awakeable_id, value="from relay"))
    assert handle.attach() == "b:from relay"


def test_second_resolution_of_an_awakeable_is_ignored(restate_backend, key):
    handle = restate_backend.object(ParityMailbox, key).wait.send("c")
    awakeable_id = awakeable_of(restate_backend, ParityMailbox, key)
    restate_backend.resolve_awakeable(awakeable_id, "first")
    assert handle.attach() == "c:first"
    restate_backend.resolve_awakeable(awakeable_id, "second")
    assert restate_backend.object(ParityMailbox, key).peek()["phase"] == "done"


def test_shared_handler_reads_while_the_key_is_held(restate_backend, key):
    mailbox = restate_backend.object(ParityMailbox, key)
    handle = mailbox.wait.send("a")
    awakeable_id = awakeable_of(restate_backend, ParityMailbox, key)
    assert mailbox.peek() == {"phase": "waiting", "awakeable": awakeable_id, "log": ["start a"]}
    restate_backend.resolve_awakeable(awakeable_id, "ok")
    handle.attach()


def test_exclusive_handlers_on_one_key_run_one_at_a_time(restate_backend, key):
    mailbox = restate_backend.object(ParityMailbox, key)
    first = mailbox.wait.send("first")
    awakeable_id = awakeable_of(restate_backend, ParityMailbox, key)
    second = mailbox.append.send("second")
    assert mailbox.peek()["log"] == ["start first"]  # "second" waits for the key
    restate_backend.resolve_awakeable(awakeable_id, "go")
    assert first.attach() == "first:go"
    assert second.attach() == ["start first", "end first", "second"]


def test_other_keys_do_not_wait(restate_backend, key):
    held = restate_backend.object(ParityMailbox, key).wait.send("held")
    awakeable_id = awakeable_of(restate_backend, ParityMailbox, key)
    assert restate_backend.object(ParityMailbox, key + "-other").append("free") == ["free"]
    restate_backend.resolve_awakeable(awakeable_id, "done")
    held.attach()


def test_cancelled_invocation_runs_its_compensation(restate_backend, key):
    assert restate_backend.service(ParityRelay).cancel_mailbox(key) == "409:cancelled"
    restate_backend.eventually(lambda: _assert_compensated(restate_backend, key))


def _assert_compensated(restate_backend, key):
    assert restate_backend.object(ParityMailbox, key).peek()["phase"] == "compensated after 409 cancelled"


def test_handler_error_carries_the_invocation(restate_backend, key):
    with pytest.raises(HandlerError) as failure:
        restate_backend.service(ParityRelay).propagate_terminal(key)
    assert failure.value.status_code == 422
    assert failure.value.target == "ParityRelay/propagate_terminal"
