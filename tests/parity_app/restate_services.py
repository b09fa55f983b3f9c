"""Handlers of the parity suite: each scenario in tests/parity runs against the mock and against
a real restate-server, and must give the same answers on both."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import restate
from pydantic import BaseModel
from restate import InvocationRetryPolicy, RunOptions
from restate.exceptions import TerminalError

from demo_project.shop.models import Product
from django_restate import Service, VirtualObject, Workflow, handler

#: Attempts seen per test key, outside Restate: the handlers run in this process on both backends.
ATTEMPTS: dict[str, int] = {}
FAST = timedelta(milliseconds=1)


def attempt(key: str) -> int:
    ATTEMPTS[key] = ATTEMPTS.get(key, 0) + 1
    return ATTEMPTS[key]


class Item(BaseModel):
    name: str
    qty: int


class CounterCall(BaseModel):
    key: str
    n: int


class Resolve(BaseModel):
    awakeable_id: str
    value: str


class Delayed(BaseModel):
    key: str
    ms: int


# -- state ---------------------------------------------------------------------------------------


class ParityCounter(VirtualObject):
    """State: a counter and a few ways to write and read state."""

    async def add(self, ctx: restate.ObjectContext, n: int) -> int:
        count = (await ctx.get("count", type_hint=int) or 0) + n
        ctx.set("count", count)
        return count

    async def count(self, ctx: restate.ObjectSharedContext) -> int:
        return await ctx.get("count", type_hint=int) or 0

    async def set_many(self, ctx: restate.ObjectContext, values: dict[str, Any]) -> list[str]:
        for name, value in values.items():
            ctx.set(name, value)
        return sorted(await ctx.state_keys())

    async def keys(self, ctx: restate.ObjectSharedContext) -> list[str]:
        return sorted(await ctx.state_keys())

    async def clear_one(self, ctx: restate.ObjectContext, name: str) -> list[str]:
        ctx.clear(name)
        return sorted(await ctx.state_keys())

    async def clear_everything(self, ctx: restate.ObjectContext) -> list[str]:
        ctx.clear_all()
        return sorted(await ctx.state_keys())

    async def value(self, ctx: restate.ObjectSharedContext, name: str) -> Any:
        return await ctx.get(name)

    async def missing(self, ctx: restate.ObjectSharedContext) -> bool:
        return await ctx.get("never set") is None

    async def set_then_fail(self, ctx: restate.ObjectContext, n: int) -> None:
        ctx.set("count", n)
        raise TerminalError("refused after writing", status_code=422)

    async def store_model(self, ctx: restate.ObjectContext, item: Item) -> dict[str, Any]:
        ctx.set("item", item)
        raw = await ctx.get("item")
        typed = await ctx.get("item", type_hint=Item)
        return {"raw": raw, "raw_type": type(raw).__name__, "typed_type": type(typed).__name__}

    async def store_tuple(self, ctx: restate.ObjectContext) -> Any:
        ctx.set("pair", (1, "two"))
        return await ctx.get("pair")


# -- exclusive and shared handlers, awakeables ---------------------------------------------------


class ParityMailbox(VirtualObject):
    """Waits on awakeables while holding its key; shared handlers look in meanwhile."""

    async def wait(self, ctx: restate.ObjectContext, label: str) -> str:
        await self._log(ctx, f"start {label}")
        awakeable_id, promise = ctx.awakeable(type_hint=str)
        ctx.set("awakeable", awakeable_id)
        ctx.set("phase", "waiting")
        value = await promise
        ctx.set("phase", "done")
        await self._log(ctx, f"end {label}")
        return f"{label}:{value}"

    async def wait_rejected(self, ctx: restate.ObjectContext) -> str:
        awakeable_id, promise = ctx.awakeable(type_hint=str)
        ctx.set("awakeable", awakeable_id)
        try:
            await promise
        except TerminalError as error:
            return f"{error.status_code}:{error.message}"
        return "resolved"

    async def append(self, ctx: restate.ObjectContext, label: str) -> list[str]:
        return await self._log(ctx, label)

    async def peek(self, ctx: restate.ObjectSharedContext) -> dict[str, Any]:
        return {
            "phase": await ctx.get("phase"),
            "awakeable": await ctx.get("awakeable"),
            "log": await ctx.get("log") or [],
        }

    async def _log(self, ctx: restate.ObjectContext, line: str) -> list[str]:
        log: list[str] = await ctx.get("log") or []
        log.append(line)
        ctx.set("log", log)
        return log

    async def cancellable(self, ctx: restate.ObjectContext) -> str:
        awakeable_id, promise = ctx.awakeable(type_hint=str)
        ctx.set("awakeable", awakeable_id)
        try:
            return await promise
        except TerminalError as error:
            ctx.set("phase", f"compensated after {error.status_code} {error.message}")
            raise


# -- calls and sends -------------------------------------------------------------------------------


class ParityRelay(Service):
    """Calls and sends between services, by method and by name."""

    async def greet(self, ctx: restate.Context, name: str) -> str:
        return f"hello {name}"

    async def echo_item(self, ctx: restate.Context, item: Item) -> Item:
        return Item(name=item.name.upper(), qty=item.qty * 2)

    async def call_service(self, ctx: restate.Context, name: str) -> str:
        return await ctx.service_call(ParityRelay.greet, name)

    async def call_typed(self, ctx: restate.Context, item: Item) -> dict[str, Any]:
        result = await ctx.service_call(ParityRelay.echo_item, item)
        return {"type": type(result).__name__, "value": result.model_dump()}

    async def call_object(self, ctx: restate.Context, call: CounterCall) -> int:
        return await ctx.object_call(ParityCounter.add, call.key, call.n)

    async def call_generic(self, ctx: restate.Context, key: str) -> int:
        raw = await ctx.generic_call("ParityCounter", "add", b"5", key=key)
        return int(json.loads(raw))

    async def call_workflow_shared(self, ctx: restate.Context, workflow_id: str) -> str | None:
        return await ctx.workflow_call(ParityApproval.status, workflow_id, None)

    async def send_object(self, ctx: restate.Context, key: str) -> bool:
        handle = ctx.object_send(ParityCounter.add, key, 1)
        return (await handle.invocation_id()).startswith("inv_")

    async def send_delayed(self, ctx: restate.Context, delayed: Delayed) -> float:
        sent_at = await ctx.time()
        ctx.object_send(ParityTimeline.mark, delayed.key, "delayed", send_delay=timedelta(milliseconds=delayed.ms))
        return sent_at

    async def send_then_attach(self, ctx: restate.Context, key: str) -> int:
        handle = ctx.object_send(ParityCounter.add, key, 7)
        return await ctx.attach_invocation(await handle.invocation_id(), type_hint=int)

    async def catch_terminal(self, ctx: restate.Context, key: str) -> str:
        try:
            await ctx.object_call(ParityCounter.set_then_fail, key, 1)
        except TerminalError as error:
            return f"{error.status_code}:{error.message}"
        return "no error"

    async def propagate_terminal(self, ctx: restate.Context, key: str) -> None:
        await ctx.object_call(ParityCounter.set_then_fail, key, 1)

    async def call_bad_input(self, ctx: restate.Context, key: str) -> str:
        try:
            await ctx.generic_call("ParityCounter", "add", b'"not a number"', key=key)
        except TerminalError as error:
            return f"{error.status_code}:{error.message}"
        return "no error"

    async def resolve(self, ctx: restate.Context, resolve: Resolve) -> None:
        ctx.resolve_awakeable(resolve.awakeable_id, resolve.value)

    async def cancel_mailbox(self, ctx: restate.Context, key: str) -> str:
        handle = ctx.object_send(ParityMailbox.cancellable, key, None)
        invocation_id = await handle.invocation_id()
        ctx.cancel_invocation(invocation_id)
        try:
            await ctx.attach_invocation(invocation_id, type_hint=str)
        except TerminalError as error:
            return f"{error.status_code}:{error.message}"
        return "not cancelled"


# -- virtual time ------------------------------------------------------------------------------------


class ParityTimeline(VirtualObject):
    """Sleeps, timestamps and timeouts."""

    async def mark(self, ctx: restate.ObjectContext, label: str) -> None:
        marks: list[Any] = await ctx.get("marks") or []
        marks.append([label, await ctx.time()])
        ctx.set("marks", marks)

    async def marks(self, ctx: restate.ObjectSharedContext) -> list[Any]:
        return await ctx.get("marks") or []

    async def sleep_for(self, ctx: restate.ObjectContext, ms: int) -> float:
        before = await ctx.time()
        await ctx.sleep(timedelta(milliseconds=ms))
        return await ctx.time() - before

    async def sleep_twice(self, ctx: restate.ObjectContext, ms: int) -> float:
        before = await ctx.time()
        await ctx.sleep(timedelta(milliseconds=ms), name="first")
        await ctx.sleep(timedelta(milliseconds=ms), name="second")
        return await ctx.time() - before

    async def awakeable_or_timeout(self, ctx: restate.ObjectContext, ms: int) -> str:
        awakeable_id, promise = ctx.awakeable(type_hint=str)
        ctx.set("awakeable", awakeable_id)
        winner, value = await restate.select(value=promise, timeout=ctx.sleep(timedelta(milliseconds=ms)))
        return "timeout" if winner == "timeout" else f"value {value}"


# -- ctx.run, retries and failures -------------------------------------------------------------------


class ParitySteps(Service):
    """Durable steps: results, terminal errors, retries, idempotency."""

    async def double(self, ctx: restate.Context, n: int) -> int:
        return await ctx.run_typed("double", lambda: n * 2)

    async def terminal_in_run(self, ctx: restate.Context) -> str:
        def refuse() -> str:
            raise TerminalError("no way", status_code=418)

        return await ctx.run_typed("refuse", refuse)

    async def retries_exhausted(self, ctx: restate.Context, key: str) -> str:
        def fail() -> str:
            raise ValueError(f"boom {attempt(key)}")

        try:
            await ctx.run_typed("fail", fail, RunOptions(max_attempts=3, initial_retry_interval=FAST))
        except TerminalError as error:
            return f"{error.status_code}:{error.message}:{ATTEMPTS[key]}"
        return "no error"

    async def retries_succeed(self, ctx: restate.Context, key: str) -> str:
        def flaky() -> str:
            if attempt(key) < 3:
                raise ConnectionError("try again")
            return f"ok after {ATTEMPTS[key]}"

        return await ctx.run_typed("flaky", flaky, RunOptions(max_attempts=5, initial_retry_interval=FAST))

    @handler(
        invocation_retry_policy=InvocationRetryPolicy(max_attempts=3, initial_interval=FAST, on_max_attempts="kill")
    )
    async def flaky_invocation(self, ctx: restate.Context, key: str) -> str:
        first = await ctx.run_typed("first step", lambda: attempt(key + ":step"))
        tries = attempt(key)
        if tries < 3:
            raise ValueError(f"attempt {tries}")
        return f"step ran {first} time(s), handler {tries} times"

    @handler(
        invocation_retry_policy=InvocationRetryPolicy(max_attempts=2, initial_interval=FAST, on_max_attempts="kill")
    )
    async def always_fails(self, ctx: restate.Context) -> str:
        raise ValueError("always")

    async def unencodable_run(self, ctx: restate.Context) -> str:
        try:
            await ctx.run_typed("object", lambda: object(), RunOptions(max_attempts=1))
        except TerminalError as error:
            return f"{error.status_code}:{error.message}"
        return "encoded"

    async def orm_step(self, ctx: restate.Context, sku: str) -> int:
        return await ctx.run_typed("create product", create_product, sku=sku)

    async def async_orm(self, ctx: restate.Context, sku: str) -> int:
        """Django's async ORM in a handler (not durable, but common): it must see the test's data."""
        return await Product.objects.filter(sku=sku).acount()

    async def counted(self, ctx: restate.Context, key: str) -> int:
        return await ctx.run_typed("count", attempt, key=key)

    async def request_info(self, ctx: restate.Context, payload: str) -> dict[str, Any]:
        request = ctx.request()
        return {
            "id_prefix": request.id[:4],
            "header": request.headers.get("x-parity"),
            "idempotency_key": request.idempotency_key,
            "body": json.loads(request.body),
        }

    async def deterministic(self, ctx: restate.Context) -> dict[str, Any]:
        value = ctx.random().random()
        return {"uuid_version": ctx.uuid().version, "random_in_unit": 0 <= value < 1}

    async def gather(self, ctx: restate.Context, n: int) -> list[int]:
        first = ctx.run_typed("first", lambda: n + 1)
        second = ctx.run_typed("second", lambda: n + 2)
        await restate.gather(first, second)
        return [await first, await second]


def create_product(sku: str) -> int:
    Product.objects.get_or_create(sku=sku, defaults={"name": sku, "price": "1.00", "stock": 1})
    return Product.objects.filter(sku=sku).count()


# -- workflows and promises ----------------------------------------------------------------------------


class ParityApproval(Workflow):
    """Waits for a decision promise, resolved or rejected from shared handlers."""

    async def run(self, ctx: restate.WorkflowContext, amount: int) -> str:
        ctx.set("status", "waiting")
        try:
            approved = await ctx.promise("decision", type_hint=bool).value()
        except TerminalError as error:
            ctx.set("status", "refused")
            return f"refused ({error.status_code}): {error.message}"
        ctx.set("status", "approved" if approved else "rejected")
        return f"approved {amount}" if approved else "rejected"

    async def decide(self, ctx: restate.WorkflowSharedContext, approved: bool) -> str:
        try:
            await ctx.promise("decision", type_hint=bool).resolve(approved)
        except TerminalError as error:
            return f"{error.status_code}:{error.message}"
        return "decided"

    async def refuse(self, ctx: restate.WorkflowSharedContext, reason: str) -> None:
        await ctx.promise("decision", type_hint=bool).reject(reason, 403)

    async def status(self, ctx: restate.WorkflowSharedContext) -> str | None:
        return await ctx.get("status")

    async def peek(self, ctx: restate.WorkflowSharedContext) -> bool | None:
        return await ctx.promise("decision", type_hint=bool).peek()
