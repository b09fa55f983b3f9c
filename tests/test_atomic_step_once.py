"""atomic_step(once=True): a step's database effects happen once per invocation, however often
Restate runs the step (a repeat after a lost journal entry, or two attempts overlapping)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from django.db import IntegrityError, connection
from restate.server_context import _restate_context_var

from django_restate.runtime import atomic_step
from django_restate.steps import StepRun, dump, step_key
from tests.reliability_app.models import StepEffect

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def invocation() -> Iterator[str]:
    """Code below runs as the ``ctx.run`` action of invocation ``inv_test`` (the SDK sets this
    context variable for the action's thread)."""
    context = SimpleNamespace(request=lambda: SimpleNamespace(id="inv_test"))
    token = _restate_context_var.set(context)  # type: ignore[arg-type]
    try:
        yield "inv_test"
    finally:
        _restate_context_var.reset(token)


@atomic_step(once=True)
def ship(workflow_id: str, step: str) -> dict[str, object]:
    StepEffect.objects.create(workflow_id=workflow_id, step=step)
    return {"shipped": step, "rows": StepEffect.objects.filter(workflow_id=workflow_id).count()}


def test_a_repeat_returns_the_first_result_without_running_again(invocation: str):
    first = ship("wf", "box")
    again = ship("wf", "box")
    assert first == again == {"shipped": "box", "rows": 1}
    assert StepEffect.objects.filter(workflow_id="wf").count() == 1
    assert StepRun.objects.get().invocation_id == invocation


def test_other_arguments_are_another_step(invocation: str):
    ship("wf", "box")
    ship("wf", "crate")
    assert sorted(StepEffect.objects.values_list("step", flat=True)) == ["box", "crate"]
    assert StepRun.objects.count() == 2


def test_another_invocation_runs_it_again(invocation: str):
    ship("wf", "box")
    token = _restate_context_var.set(SimpleNamespace(request=lambda: SimpleNamespace(id="inv_other")))  # type: ignore[arg-type]
    try:
        ship("wf", "box")
    finally:
        _restate_context_var.reset(token)
    assert StepEffect.objects.count() == 2


def test_outside_an_invocation_it_is_a_plain_atomic_step():
    ship("wf", "box")
    ship("wf", "box")
    assert StepEffect.objects.count() == 2
    assert not StepRun.objects.exists()


def test_an_overlapping_run_that_committed_first_rolls_this_one_back(invocation: str):
    """The other attempt's row appears while this run works: this run's INSERT of its own row
    fails, and its effects are rolled back with it (the retry then finds the winner's row)."""

    @atomic_step(once=True)
    def racing(workflow_id: str) -> str:
        StepEffect.objects.create(workflow_id=workflow_id, step="mine")
        key = step_key(racing_qualname, (workflow_id,), {})
        StepRun.objects.create(invocation_id=invocation, step=key, name="the other attempt", result=b"\x80\x04N.")
        return "mine"

    racing_qualname = racing.__qualname__
    with pytest.raises(IntegrityError):
        racing("wf")
    assert not StepEffect.objects.exists()
    assert not StepRun.objects.exists()


def test_an_overlapping_run_that_committed_first_wins(invocation: str):
    """The other attempt commits its row (on its own connection) while this run works: this run's
    INSERT of its row fails, its effects are rolled back, and it returns the other run's result."""

    @atomic_step(once=True)
    def racing(workflow_id: str) -> str:
        key = step_key(racing_qualname, (workflow_id,), {})

        def other_attempt() -> None:
            StepRun.objects.create(invocation_id=invocation, step=key, name="the other attempt", result=dump("theirs"))
            connection.close()

        other = threading.Thread(target=other_attempt)
        other.start()
        other.join()
        StepEffect.objects.create(workflow_id=workflow_id, step="mine")
        return "mine"

    racing_qualname = racing.__qualname__
    assert racing("wf") == "theirs"
    assert not StepEffect.objects.exists()
    assert StepRun.objects.get().name == "the other attempt"


def test_a_constraint_the_step_itself_breaks_is_raised(invocation: str):
    @atomic_step(once=True)
    def twice(workflow_id: str) -> None:
        StepEffect.objects.create(workflow_id=workflow_id, step="mine")
        for _ in range(2):  # any unique constraint of the step's own; StepRun's is at hand
            StepRun.objects.create(invocation_id="another", step="the same", name="mine")

    with pytest.raises(IntegrityError):
        twice("wf")
    assert not StepRun.objects.exists() and not StepEffect.objects.exists()
