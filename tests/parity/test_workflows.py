"""Workflows: the run executes once per id, promises block until resolved or rejected."""

from __future__ import annotations

import pytest

from django_restate.exceptions import HandlerError
from tests.parity_app.restate_services import ParityApproval

pytestmark = [pytest.mark.restate_parity, pytest.mark.restate_mock(replay_check=True)]


def _waiting(approval):
    assert approval.status() == "waiting"


def test_promise_resolved_by_a_shared_handler(restate_backend, key):
    approval = restate_backend.workflow(ParityApproval, key)
    handle = approval.run.send(100)
    restate_backend.eventually(lambda: _waiting(approval))
    assert approval.decide(True) == "decided"
    assert handle.attach() == "approved 100"
    assert approval.status() == "approved"


def test_promise_resolved_false(restate_backend, key):
    approval = restate_backend.workflow(ParityApproval, key)
    handle = approval.run.send(5)
    restate_backend.eventually(lambda: _waiting(approval))
    approval.decide(False)
    assert handle.attach() == "rejected"


def test_promise_resolved_before_the_run_starts(restate_backend, key):
    approval = restate_backend.workflow(ParityApproval, key)
    assert approval.decide(True) == "decided"
    assert approval.run(7) == "approved 7"


def test_promise_rejected(restate_backend, key):
    approval = restate_backend.workflow(ParityApproval, key)
    handle = approval.run.send(1)
    restate_backend.eventually(lambda: _waiting(approval))
    approval.refuse("over budget")
    assert handle.attach() == "refused (403): over budget"


def test_promise_resolved_twice(restate_backend, key):
    approval = restate_backend.workflow(ParityApproval, key)
    assert approval.decide(True) == "decided"
    assert approval.decide(False) == "409:promise was already completed"


def test_peek_before_and_after(restate_backend, key):
    approval = restate_backend.workflow(ParityApproval, key)
    assert approval.peek() is None
    approval.decide(True)
    assert approval.peek() is True


def test_run_executes_once_per_workflow_id(restate_backend, key):
    approval = restate_backend.workflow(ParityApproval, key)
    first = approval.run.send(1)
    second = approval.run.send(2)
    assert second.invocation_id == first.invocation_id
    assert second.status == "PreviouslyAccepted"
    restate_backend.eventually(lambda: _waiting(approval))
    approval.decide(True)
    assert first.attach() == "approved 1"


def test_calling_a_finished_run_again_is_a_409(restate_backend, key):
    approval = restate_backend.workflow(ParityApproval, key)
    approval.decide(True)
    assert approval.run(3) == "approved 3"
    with pytest.raises(HandlerError) as failure:
        approval.run(4)
    assert (failure.value.status_code, failure.value.message) == (409, "the workflow method was already invoked")


def test_workflow_state_after_the_run(restate_backend, key):
    approval = restate_backend.workflow(ParityApproval, key)
    approval.decide(False)
    approval.run(1)
    assert restate_backend.state(ParityApproval, key) == {"status": "rejected"}
