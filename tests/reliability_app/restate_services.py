"""Handlers for the reliability suite.

Each one makes a failure observable: the counter audits every applied increment
in the database, the flaky and failing services count their real attempts, and
the pipeline workflow records every execution of its steps.
"""

from __future__ import annotations

import time
from typing import Any

import restate
from asgiref.sync import sync_to_async
from django.db import IntegrityError
from django.db.models import F
from pydantic import BaseModel, Field
from restate.exceptions import TerminalError

from django_restate import Service, VirtualObject, Workflow
from django_restate.runtime import atomic_step

from .models import AttemptCount, Gate, IncrementAudit, StepEffect

# No service sets invocation_retry_policy: the server's default (exponential from 50 ms) is what
# users get, and a policy would make the endpoint refuse discovery protocol v3.
GATE_TIMEOUT = 30.0


class Counter(VirtualObject):
    """A counter per key. Every applied increment leaves exactly one audit row."""

    class Meta:
        name = "ReliabilityCounter"

    async def add(self, ctx: restate.ObjectContext, amount: int) -> int:
        value = (await ctx.get("value", type_hint=int) or 0) + amount
        ctx.set("value", value)
        await ctx.run_typed(
            "audit", record_increment, invocation_id=ctx.request().id, key=ctx.key(), amount=amount, value=value
        )
        return value

    async def value(self, ctx: restate.ObjectSharedContext) -> int:
        return await ctx.get("value", type_hint=int) or 0


class FlakyPlan(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    failures: int = Field(ge=0, le=10)


class Flaky(Service):
    """Fails with an ordinary exception for its first ``failures`` attempts, then succeeds."""

    class Meta:
        name = "ReliabilityFlaky"

    async def run(self, ctx: restate.Context, plan: FlakyPlan) -> int:
        attempts = await sync_to_async(count_attempt)(plan.name)
        if attempts <= plan.failures:
            raise RuntimeError(f"transient failure {attempts} of {plan.failures}")
        return attempts


class FailPlan(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    status: int = Field(ge=400, le=599)


class Failing(Service):
    """Refuses at once with a TerminalError carrying the requested status code."""

    class Meta:
        name = "ReliabilityFailing"

    async def run(self, ctx: restate.Context, plan: FailPlan) -> None:
        attempts = await sync_to_async(count_attempt)(plan.name)
        raise TerminalError(f"{plan.name} refused (attempt {attempts})", status_code=plan.status)


class Pipeline(Workflow):
    """Three steps, a gated step a test can interrupt, then three more steps."""

    class Meta:
        name = "ReliabilityPipeline"

    async def run(self, ctx: restate.WorkflowContext, gate: str) -> list[str]:
        done = []
        for step in ("one", "two", "three"):
            done.append(await ctx.run_typed(step, perform_step, workflow_id=ctx.key(), step=step))
        ctx.set("stage", "at the gate")
        done.append(await ctx.run_typed("gate", pass_gate, workflow_id=ctx.key(), gate=gate))
        for step in ("four", "five", "six"):
            done.append(await ctx.run_typed(step, perform_step, workflow_id=ctx.key(), step=step))
        ctx.set("stage", "done")
        return done

    async def stage(self, ctx: restate.WorkflowSharedContext) -> str:
        return await ctx.get("stage", type_hint=str) or "starting"


class OncePipeline(Workflow):
    """The pipeline with every step an ``atomic_step(once=True)``: a step that Restate runs again
    (its attempt was cut off, or two attempts overlapped during a failover) has its effect once."""

    class Meta:
        name = "ReliabilityOncePipeline"

    async def run(self, ctx: restate.WorkflowContext, gate: str) -> list[str]:
        done = []
        for step in ("one", "two", "three"):
            done.append(await ctx.run_typed(step, perform_step_once, workflow_id=ctx.key(), step=step))
        done.append(await ctx.run_typed("gate", pass_gate_once, workflow_id=ctx.key(), gate=gate))
        for step in ("four", "five", "six"):
            done.append(await ctx.run_typed(step, perform_step_once, workflow_id=ctx.key(), step=step))
        return done


class Line(BaseModel):
    sku: str = Field(min_length=1, max_length=32)
    quantity: int = Field(gt=0, le=1000)
    tags: list[str] = Field(default_factory=list, max_length=10)


class Echo(Service):
    """Typed inputs of several shapes, for the hostile-input matrix."""

    class Meta:
        name = "ReliabilityEcho"

    async def length(self, ctx: restate.Context, text: str) -> int:
        return len(text)

    async def line(self, ctx: restate.Context, line: Line) -> Line:
        return line

    async def depth(self, ctx: restate.Context, value: Any) -> int:
        return nesting_depth(value)


# Durable steps: plain sync ORM code, run by ctx.run_typed in a worker thread.


def record_increment(invocation_id: str, key: str, amount: int, value: int) -> bool:
    try:
        _, created = IncrementAudit.objects.get_or_create(
            invocation_id=invocation_id, defaults={"key": key, "amount": amount, "value": value}
        )
    except IntegrityError:  # a concurrent retry of the same step won the race
        created = False
    return created


def count_attempt(name: str) -> int:
    AttemptCount.objects.get_or_create(name=name)
    AttemptCount.objects.filter(name=name).update(attempts=F("attempts") + 1)
    return AttemptCount.objects.get(name=name).attempts


def perform_step(workflow_id: str, step: str) -> str:
    StepEffect.objects.create(workflow_id=workflow_id, step=step)
    return step


def wait_at_gate(gate: str) -> None:
    """Wait until the test opens the gate; a retry after a crash enters it again."""
    Gate.objects.get_or_create(name=gate)
    Gate.objects.filter(name=gate).update(entered=F("entered") + 1)
    deadline = time.monotonic() + GATE_TIMEOUT
    while not Gate.objects.filter(name=gate, is_open=True).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gate {gate!r} stayed closed")
        time.sleep(0.05)


def pass_gate(workflow_id: str, gate: str) -> str:
    wait_at_gate(gate)
    return perform_step(workflow_id, "gate")


perform_step_once = atomic_step(once=True)(perform_step)


def pass_gate_once(workflow_id: str, gate: str) -> str:
    wait_at_gate(gate)  # outside the step's transaction: the test writes the gate meanwhile
    return perform_step_once(workflow_id, "gate")


def nesting_depth(value: Any) -> int:
    depth = 0
    layer = [value]
    while layer:
        depth += 1
        nxt: list[Any] = []
        for item in layer:
            if isinstance(item, dict):
                nxt.extend(item.values())
            elif isinstance(item, list):
                nxt.extend(item)
        layer = nxt
    return depth
