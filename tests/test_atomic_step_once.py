"""atomic_step(once=True): a step's database effects happen once per invocation, however often
Restate runs the step (a repeat after a lost journal entry, or two attempts overlapping)."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from django.db import IntegrityError
from restate.server_context import _restate_context_var

from django_restate.runtime import atomic_step
from django_restate.steps import StepRun, step_key
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
