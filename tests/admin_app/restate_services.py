"""Handlers that create the state and invocations the admin pages show."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import restate
from restate.retry_policy import InvocationRetryPolicy
from restate.serde import BytesSerde

from django_restate import VirtualObject, Workflow, handler


class AdminNotebook(VirtualObject):
    """A keyed notebook: every entry is one state key, so tests control the state exactly."""

    async def write(self, ctx: restate.ObjectContext, entries: dict[str, Any]) -> int:
        for key, value in entries.items():
            ctx.set(key, value)
        return len(await ctx.state_keys())

    async def write_bytes(self, ctx: restate.ObjectContext, entries: dict[str, str]) -> None:
        """Store raw bytes (given as base64), e.g. values that are not UTF-8 or not JSON."""
        for key, b64 in entries.items():
            ctx.set(key, base64.b64decode(b64), serde=BytesSerde())

    async def read(self, ctx: restate.ObjectSharedContext, key: str) -> Any:
        return await ctx.get(key)

    async def nap(self, ctx: restate.ObjectContext, seconds: float) -> str:
        await ctx.sleep(timedelta(seconds=seconds), name="nap")
        return "rested"

    @handler(
        invocation_retry_policy=InvocationRetryPolicy(
            initial_interval=timedelta(seconds=60), max_attempts=3, on_max_attempts="pause"
        )
    )
    async def stumble(self, ctx: restate.ObjectContext, message: str) -> None:
        """Fails with a retryable error: Restate backs off for a minute before each retry."""
        raise RuntimeError(message)


class AdminApproval(Workflow):
    """Waits for a decision: its promise is what the instance page shows next to its state."""

    async def run(self, ctx: restate.WorkflowContext, note: str) -> bool:
        ctx.set("note", note)
        return await ctx.promise("decision", type_hint=bool).value()

    async def approve(self, ctx: restate.WorkflowSharedContext, approved: bool) -> None:
        await ctx.promise("decision", type_hint=bool).resolve(approved)

    async def refuse(self, ctx: restate.WorkflowSharedContext, reason: str) -> None:
        await ctx.promise("decision", type_hint=bool).reject(reason)
