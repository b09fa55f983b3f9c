"""The service that runs Django tasks: one ``DjangoTask`` workflow per ``TaskResult`` id.

Autodiscovered (this app's ``restate_services``), so it is served by the project's endpoint,
registered by ``restate_register`` and shown in the admin like the project's own handlers.
A workflow runs once per id, which makes enqueueing exactly-once per result id: a repeated send
(the outbox's retry, a relay racing the fast path) is answered "PreviouslyAccepted".
"""

from __future__ import annotations

from datetime import timedelta

import restate
from restate.serde import JsonSerde

from ..handlers import Workflow
from .compat import TaskResultStatus
from .execution import attempt_for, claim
from .results import STATE, Claim, Job, Outcome, RetryPolicy, TaskState, new_state

_claims: restate.RunOptions[Claim] = restate.RunOptions(serde=JsonSerde())
_outcomes: restate.RunOptions[Outcome] = restate.RunOptions(serde=JsonSerde())


class DjangoTask(Workflow):
    """A task enqueued on ``django_restate.tasks.RestateBackend``; the workflow id is the TaskResult id."""

    async def run(self, ctx: restate.WorkflowContext, job: Job) -> TaskState:
        state = new_state(job)
        ctx.set(STATE, state)
        if job["run_after"] is not None:
            now = await ctx.time()
            if job["run_after"] > now:
                await ctx.sleep(timedelta(seconds=job["run_after"] - now), name="run_after")
        policy = job["retry"]
        number = 0
        while True:
            number += 1
            started = await ctx.run_typed(f"claim attempt {number}", claim, _claims)
            state["status"] = TaskResultStatus.RUNNING.value
            state["started_at"] = state["started_at"] or started["at"]
            state["last_attempted_at"] = started["at"]
            state["worker_ids"].append(started["worker"])
            ctx.set(STATE, state)
            outcome = await ctx.run_typed(f"attempt {number}", attempt_for(job), _outcomes, state, number)
            if outcome["error"] is not None:
                state["errors"].append(outcome["error"])
            if outcome["ok"] or outcome["terminal"] or number >= policy["max_attempts"]:
                state["status"] = (TaskResultStatus.SUCCESSFUL if outcome["ok"] else TaskResultStatus.FAILED).value
                state["finished_at"] = outcome["finished_at"]
                state["return_value"] = outcome["value"]
                ctx.set(STATE, state)
                return state
            state["status"] = TaskResultStatus.READY.value  # "ready to be executed again"
            ctx.set(STATE, state)
            await ctx.sleep(timedelta(seconds=backoff(policy, number)), name=f"retry {number + 1}")

    async def result(self, ctx: restate.WorkflowSharedContext) -> TaskState | None:
        """The task's state so far, or nothing if the workflow has not started."""
        return await ctx.get(STATE)


def backoff(policy: RetryPolicy, number: int) -> float:
    """Seconds to wait after the ``number``-th failed attempt."""
    return min(policy["initial_interval"] * policy["factor"] ** (number - 1), policy["max_interval"])
