"""Handlers for the mock's own tests: deliberate mistakes and paths the parity suite cannot take
against a real server (a handler that would be retried forever there). Registered per test with
the ``mock_services`` fixture, never served to restate-server."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

import restate
from restate import RunOptions
from restate.exceptions import TerminalError

from django_restate import Service, VirtualObject, Workflow

CHARGES: list[str] = []
#: The running mock, for the handler that calls it back from a ctx.run action.
CURRENT_MOCK: list = []


class Wallet(VirtualObject):
    """A saga: charge, then ship; refund when shipping fails terminally."""

    async def checkout(self, ctx: restate.ObjectContext, amount: int) -> str:
        charge_id = await ctx.run_typed("charge", lambda: f"charge-{amount}")
        ctx.set("charged", amount)
        try:
            await ctx.run_typed("ship", lambda: "shipped", RunOptions(max_attempts=2))
        except TerminalError:
            await ctx.run_typed("refund", lambda: CHARGES.append(f"refund {charge_id}"))
            ctx.set("charged", 0)
            return "refunded"
        return "shipped"

    async def balance(self, ctx: restate.ObjectSharedContext) -> int:
        return await ctx.get("charged") or 0

    async def write_from_shared(self, ctx: restate.ObjectSharedContext) -> None:
        ctx.set("charged", 1)  # type: ignore[attr-defined]

    async def store_unencodable(self, ctx: restate.ObjectContext) -> None:
        ctx.set("when", object())

    async def call_itself(self, ctx: restate.ObjectContext) -> int:
        return await ctx.object_call(Wallet.balance_exclusive, ctx.key(), None)

    async def balance_exclusive(self, ctx: restate.ObjectContext) -> int:
        return await ctx.get("charged") or 0

    async def wait_forever(self, ctx: restate.ObjectContext) -> str:
        _, promise = ctx.awakeable(type_hint=str)
        return await promise

    async def slow_refill(self, ctx: restate.ObjectContext, days: int) -> float:
        start = await ctx.time()
        await ctx.sleep(timedelta(days=days))
        ctx.set("charged", 100)
        return await ctx.time() - start


class Sloppy(Service):
    """Non-deterministic and misaddressed code."""

    async def lucky_number(self, ctx: restate.Context) -> float:
        return await ctx.run_typed("store", lambda: 1.0) + random.random()

    async def token(self, ctx: restate.Context) -> str:
        token = str(uuid.uuid4())  # outside ctx.run: differs on replay
        await ctx.run_typed("use token", lambda: len(token))
        return "ok"

    async def branchy(self, ctx: restate.Context) -> str:
        if random.random() < 2:  # always true, but uses the step names below on one path only
            name = f"step-{uuid.uuid4().hex[:4]}"
            await ctx.run_typed(name, lambda: 1)
        return "done"

    async def call_unknown(self, ctx: restate.Context) -> str:
        result = await ctx.generic_call("NoSuchService", "go", b"{}")
        return result.decode()

    async def call_plain_function(self, ctx: restate.Context) -> str:
        return await ctx.service_call(not_a_handler, "x")

    async def flaky(self, ctx: restate.Context) -> str:
        raise ConnectionError("network down")

    async def reenter(self, ctx: restate.Context) -> str:
        return await ctx.run_typed("nested", lambda: CURRENT_MOCK[0].service(Sloppy).flaky())

    async def promise_in_service(self, ctx: restate.Context) -> None:
        await ctx.promise("nope").value()  # type: ignore[attr-defined]


async def not_a_handler(ctx: restate.Context, name: str) -> str:
    return name


class Shipment(Workflow):
    """A workflow with a timeout on its promise."""

    async def run(self, ctx: restate.WorkflowContext, hours: int) -> str:
        winner, value = await restate.select(
            delivered=ctx.promise("delivered", type_hint=str).value(),
            timeout=ctx.sleep(timedelta(hours=hours)),
        )
        ctx.set("outcome", "lost" if winner == "timeout" else f"delivered by {value}")
        return await ctx.get("outcome") or ""

    async def deliver(self, ctx: restate.WorkflowSharedContext, courier: str) -> None:
        await ctx.promise("delivered", type_hint=str).resolve(courier)
