"""``MockRestate``: run handler classes in-process, with state in the ORM and virtual time.

    def test_cart(restate_mock, db):
        cart = restate_mock.object(Cart, "alice")
        assert cart.add_item(CartItem(sku="tea", quantity=2)) == 2
        assert restate_mock.state(Cart, "alice") == {"items": {"tea": 2}}

Calls run at once and return the handler's result (a ``TerminalError`` arrives as the
client's ``HandlerError``, with its status code);
sends, from the test or from handlers, wait until the test calls :meth:`drain`. Sleeps
and retry back-offs move a virtual clock instead of waiting. Every method has an
``a``-prefixed async twin for async tests.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from datetime import timedelta
from typing import Any, TypeVar

from ..client import MISSING
from ..handlers import RestateService
from ..reflect import CONTEXT_ANNOTATIONS, HandlerSpec, ServiceSpec
from ..registry import Registry, registry
from . import store
from .backend import RestateTestBackend
from .bridge import LoopBridge
from .clock import VirtualClock
from .context import MockContext
from .engine import DEFAULT_MAX_ATTEMPTS, MockEngine
from .errors import Deadlock, NestedDrive, WrongContext
from .faults import FailRun, KillAt
from .invocation import Invocation
from .proxies import MockHandle, MockHandlerRef, MockServiceProxy, MockWorkflowRunRef, codec
from .replay import Failure

T = TypeVar("T")


class MockRestate(RestateTestBackend):
    """The mock Restate: handler classes from the registry, run in this process.

    ``replay_check=True`` runs every handler a second time against its journal and fails
    the test with a diff when the steps differ. ``max_attempts`` bounds how often an
    invocation without an ``invocation_retry_policy`` is retried before the error is
    raised to the test (a real server would go on retrying).
    """

    name = "mock"

    def __init__(
        self,
        *,
        replay_check: bool = False,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        start_time: float | None = None,
        registry: Registry = registry,
    ) -> None:
        self.engine = MockEngine(
            registry, replay_check=replay_check, max_attempts=max_attempts, clock=VirtualClock(start_time)
        )
        self._bridge: LoopBridge | None = None

    def _sync(self, awaitable: Coroutine[Any, Any, T]) -> T:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            awaitable.close()
            raise RuntimeError(
                "This test runs in an event loop: use the a-prefixed twin (await restate_mock.acall(...))."
            )
        if self._bridge is not None and self._bridge.active:
            awaitable.close()
            error = NestedDrive()
            self.engine.fail_test(error)
            raise error
        if self._bridge is None:
            self._bridge = LoopBridge()
        self.engine.scheduler.inline = self._bridge.executor
        try:
            return self._bridge.run(awaitable)
        finally:
            self.engine.scheduler.inline = None

    def close(self) -> None:
        """Close the mock's event loop (the pytest fixture does this after each test)."""
        if self._bridge is not None:
            self._bridge.close()
            self._bridge = None

    # -- calls and sends ---------------------------------------------------------------

    def service(self, cls: type[RestateService]) -> MockServiceProxy:
        """The handlers of a Service: ``restate_mock.service(Greeter).greet("Ada")``."""
        return MockServiceProxy(self, self._spec(cls, "service"), "")

    def object(self, cls: type[RestateService], key: str) -> MockServiceProxy:
        """The handlers of one Virtual Object: ``restate_mock.object(Cart, "alice").add_item(item)``."""
        return MockServiceProxy(self, self._spec(cls, "object"), key)

    def workflow(self, cls: type[RestateService], workflow_id: str) -> MockServiceProxy:
        """One workflow: ``.run.send(...)`` starts it, shared handlers are called like any other."""
        return MockServiceProxy(self, self._spec(cls, "workflow"), workflow_id)

    def _spec(self, cls: type[RestateService], kind: str) -> ServiceSpec:
        return self.engine.registry.spec(cls, kind, via="restate_mock")

    def call(
        self,
        handler: Callable[..., Any],
        arg: Any = MISSING,
        *,
        key: str = "",
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """Call a handler method by reference: ``restate_mock.call(Cart.add_item, item, key="alice")``."""
        return self._ref(handler, key).call(arg, idempotency_key=idempotency_key, headers=headers)

    async def acall(
        self,
        handler: Callable[..., Any],
        arg: Any = MISSING,
        *,
        key: str = "",
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        return await self._ref(handler, key).acall(arg, idempotency_key=idempotency_key, headers=headers)

    def send(
        self,
        handler: Callable[..., Any],
        arg: Any = MISSING,
        *,
        key: str = "",
        delay: timedelta | float | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> MockHandle:
        """Queue a send to a handler method; it runs on :meth:`drain` (or ``handle.attach()``)."""
        return self._ref(handler, key).send(arg, delay=delay, idempotency_key=idempotency_key, headers=headers)

    async def asend(
        self,
        handler: Callable[..., Any],
        arg: Any = MISSING,
        *,
        key: str = "",
        delay: timedelta | float | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> MockHandle:
        return self.send(handler, arg, key=key, delay=delay, idempotency_key=idempotency_key, headers=headers)

    def _ref(self, handler: Callable[..., Any], key: str) -> MockHandlerRef:
        spec, handler_spec = self.engine.registry.for_method(handler)
        ref = MockWorkflowRunRef if handler_spec.kind == "workflow" else MockHandlerRef
        return ref(self, spec, handler_spec, key if spec.kind != "service" else "")

    async def _call(
        self,
        spec: ServiceSpec,
        handler: HandlerSpec,
        key: str,
        body: bytes,
        idempotency_key: str | None,
        headers: dict[str, str] | None,
    ) -> tuple[Invocation, bytes | Failure | None]:
        engine = self.engine
        inv, new = engine.admission.admit(spec, handler, key, body, headers=headers, idempotency_key=idempotency_key)

        async def body_() -> bytes | Failure | None:
            if not new and handler.kind == "workflow" and inv.done:
                return Failure(409, "the workflow method was already invoked")
            if new:
                engine.submit(inv)
            else:  # sent before with this idempotency key: it runs now
                engine.run_now(inv)
            if not await engine.settle_until(lambda: inv.done, advance_clock=True, run_sends="when stuck"):
                raise Deadlock(self._stuck(inv))
            return inv.output

        return inv, await engine.drive(body_)

    def _stuck(self, inv: Invocation) -> str:
        return f"The test called {inv.target}, which cannot finish: {self.engine.explain(inv)}."

    def _send(
        self,
        spec: ServiceSpec,
        handler: HandlerSpec,
        key: str,
        body: bytes,
        delay: float,
        idempotency_key: str | None,
        headers: dict[str, str] | None,
    ) -> MockHandle:
        known = len(self.engine.invocations)
        invocation_id = self.engine.send_from(
            None, spec, handler, key, body, delay, idempotency_key, dict(headers or {})
        )
        status = "Accepted" if len(self.engine.invocations) > known else "PreviouslyAccepted"
        return MockHandle(self, self.engine.invocations[invocation_id], status, codec(spec, handler))

    async def _attach(self, inv: Invocation) -> bytes | Failure | None:
        engine = self.engine

        async def body() -> bytes | Failure | None:
            if not await engine.settle_until(lambda: inv.done, advance_clock=True, run_sends=True):
                raise Deadlock(f"The test waits for {inv.target}, which cannot finish: {engine.explain(inv)}.")
            return inv.output

        return await engine.drive(body)

    # -- moving things along ------------------------------------------------------------

    def drain(self, *, advance_clock: bool = True) -> None:
        """Run queued sends and everything they cause until nothing can make progress. With
        ``advance_clock`` (the default) the virtual clock moves through sleeps and delayed sends;
        without it, only what is due now runs (to act before a timeout fires, say)."""
        self._sync(self.adrain(advance_clock=advance_clock))

    async def adrain(self, *, advance_clock: bool = True) -> None:
        async def body() -> None:
            await self.engine.settle_until(lambda: False, advance_clock=advance_clock, run_sends=True)

        await self.engine.drive(body)

    def advance(self, delta: timedelta) -> None:
        """Move the virtual clock forward, firing the sleeps and retries that fall due (queued
        sends that become due still wait for :meth:`drain`)."""
        self._sync(self.aadvance(delta))

    async def aadvance(self, delta: timedelta) -> None:
        engine = self.engine
        until = engine.clock.now + delta.total_seconds()

        async def body() -> None:
            while True:
                await engine.scheduler.settle()
                if not engine.clock.fire_next(until=until):
                    break
            engine.clock.now = max(engine.clock.now, until)

        await engine.drive(body)

    @property
    def now(self) -> float:
        """The virtual clock, in seconds since the epoch (what ``ctx.time()`` returns)."""
        return self.engine.clock.now

    # -- awakeables and promises ----------------------------------------------------------

    def resolve_awakeable(self, awakeable_id: str, value: Any) -> None:
        self._sync(self.aresolve_awakeable(awakeable_id, value))

    async def aresolve_awakeable(self, awakeable_id: str, value: Any) -> None:
        await self._complete_awakeable(awakeable_id, json.dumps(value).encode())

    def reject_awakeable(self, awakeable_id: str, message: str, code: int = 500) -> None:
        self._sync(self.areject_awakeable(awakeable_id, message, code))

    async def areject_awakeable(self, awakeable_id: str, message: str, code: int = 500) -> None:
        await self._complete_awakeable(awakeable_id, Failure(code, message))

    async def _complete_awakeable(self, awakeable_id: str, result: bytes | Failure) -> None:
        engine = self.engine
        if awakeable_id not in engine.promises.awakeables:
            known = ", ".join(engine.promises.awakeables) or "none yet"
            raise LookupError(f"No awakeable {awakeable_id!r} was created (awakeables: {known}).")

        async def body() -> None:
            engine.complete_awakeable(awakeable_id, result)
            await engine.settle_until(lambda: False, advance_clock=False, run_sends=False)

        await engine.drive(body)

    def resolve_promise(self, workflow: type[RestateService], workflow_id: str, name: str, value: Any) -> None:
        """Resolve a workflow's durable promise from the test (a shared handler can do it too)."""
        self._sync(self.aresolve_promise(workflow, workflow_id, name, value))

    async def aresolve_promise(self, workflow: type[RestateService], workflow_id: str, name: str, value: Any) -> None:
        await self._complete_promise(workflow, workflow_id, name, json.dumps(value).encode())

    def reject_promise(
        self, workflow: type[RestateService], workflow_id: str, name: str, message: str, code: int = 500
    ) -> None:
        self._sync(self.areject_promise(workflow, workflow_id, name, message, code))

    async def areject_promise(
        self, workflow: type[RestateService], workflow_id: str, name: str, message: str, code: int = 500
    ) -> None:
        await self._complete_promise(workflow, workflow_id, name, Failure(code, message))

    async def _complete_promise(
        self, workflow: type[RestateService], workflow_id: str, name: str, result: bytes | Failure
    ) -> None:
        engine = self.engine
        spec = engine.registry.get(workflow)

        async def body() -> None:
            await engine.load_promises(spec.name, workflow_id)
            if not engine.promises.complete_promise(spec.name, workflow_id, name, result):
                from restate.exceptions import TerminalError

                raise TerminalError("promise was already completed", 409)
            await engine.settle_until(lambda: False, advance_clock=False, run_sends=False)

        await engine.drive(body)

    # -- cancel and kill ---------------------------------------------------------------------

    def cancel(self, invocation_id: str) -> None:
        """Cancel an invocation, as ``restate invocations cancel`` does: it may run compensations."""
        self._sync(self._act(lambda: self.engine.cancel(invocation_id)))

    def kill(self, invocation_id: str) -> None:
        """Kill an invocation: it stops at once, without compensation."""
        self._sync(self._act(lambda: self.engine.kill(invocation_id)))

    async def _act(self, action: Callable[[], None]) -> None:
        async def body() -> None:
            action()
            await self.engine.settle_until(lambda: False, advance_clock=False, run_sends=False)

        await self.engine.drive(body)

    # -- failure injection ---------------------------------------------------------------------

    def fail_run(
        self,
        name: str,
        times: int = 1,
        error: BaseException | None = None,
        *,
        handler: Callable[..., Any] | None = None,
    ) -> FailRun:
        """Make the next ``times`` attempts of ``ctx.run(name, ...)`` raise ``error`` (a
        ``RuntimeError`` by default) instead of running, optionally only in ``handler``."""
        service = handler_name = None
        if handler is not None:
            spec, handler_spec = self.engine.registry.for_method(handler)
            service, handler_name = spec.name, handler_spec.name
        fault = FailRun(name, times, error or RuntimeError(f"injected failure of run {name!r}"), service, handler_name)
        self.engine.faults.runs.append(fault)
        return fault

    def kill_at(self, handler: Callable[..., Any], step: int) -> KillAt:
        """Kill the next invocation of ``handler`` when it reaches journal step ``step`` (0 is
        its first durable step): it ends with TerminalError("killed", 409) and runs no more code."""
        spec, handler_spec = self.engine.registry.for_method(handler)
        fault = KillAt(spec.name, handler_spec.name, step)
        self.engine.faults.kills.append(fault)
        return fault

    # -- state ---------------------------------------------------------------------------------

    def state(self, cls: type[RestateService], key: str) -> dict[str, Any]:
        from ..state import decode_value

        spec = self.engine.registry.get(cls)
        return {name: decode_value(value).readable() for name, value in store.load_state(spec.name, key).items()}

    def set_state(self, cls: type[RestateService], key: str, values: Mapping[str, Any]) -> None:
        """Preload an instance's state (replacing it), each value stored as the SDK's JSON would be."""
        spec = self.engine.registry.get(cls)
        store.replace_state(spec.name, key, {name: json.dumps(value).encode() for name, value in values.items()})

    def eventually(self, check: Callable[[], T], timeout: float = 10.0) -> T:
        """Run what is queued, then ``check()``; while it raises AssertionError, let virtual time
        pass one timer at a time (up to ``timeout`` seconds of it), as a real server would."""
        deadline = self.now + timeout
        while True:
            self.drain(advance_clock=False)
            try:
                return check()
            except AssertionError:
                if not self._sync(self._fire_next(deadline)):
                    raise

    async def _fire_next(self, until: float) -> bool:
        async def body() -> bool:
            return self.engine.clock.fire_next(until=until)

        return await self.engine.drive(body)

    # -- what happened -------------------------------------------------------------------------

    @property
    def invocations(self) -> list[Invocation]:
        return list(self.engine.invocations.values())

    def pending_sends(self) -> list[Invocation]:
        """Sends waiting for :meth:`drain`, oldest first."""
        return list(self.engine.admission.outbox)

    def invocation(self, invocation_id: str) -> Invocation:
        return self.engine.invocations[invocation_id]

    # -- calling handler code directly -------------------------------------------------------

    def context(self, target: Any, key: str = "", *, kind: str | None = None) -> MockContext:
        """A context to call handler code with directly: ``target`` is a handler method (the
        context gets its kind) or a handler class (``kind`` defaults to exclusive for objects and
        to the run for workflows). Run the code with :meth:`run`."""
        inv, handler_kind = self._direct_invocation(target, key, kind)
        inv.state = store.load_state(inv.spec.name, inv.key) if handler_kind != "service" else {}
        return self.engine.context(inv, handler_kind)

    async def acontext(self, target: Any, key: str = "", *, kind: str | None = None) -> MockContext:
        inv, handler_kind = self._direct_invocation(target, key, kind)
        if handler_kind != "service":
            inv.state = await self.engine.scheduler.run_sync(store.load_state, inv.spec.name, inv.key)
        return self.engine.context(inv, handler_kind)

    def _direct_invocation(self, target: Any, key: str, kind: str | None) -> tuple[Invocation, str]:
        if isinstance(target, type):
            spec = self.engine.registry.get(target)
            kinds = {"service": "service", "object": "exclusive", "workflow": "workflow"}
            handler_kind = kind or kinds[spec.kind]
            handler = next((h for h in spec.handlers if h.context_kind == handler_kind), spec.handlers[0])
        else:
            spec, handler = self.engine.registry.for_method(target)
            handler_kind = kind or handler.context_kind
        if handler_kind not in CONTEXT_ANNOTATIONS:
            raise ValueError(f"kind must be one of {', '.join(CONTEXT_ANNOTATIONS)}, not {handler_kind!r}.")
        if spec.kind != "service" and not key:
            raise ValueError(
                f"{spec.name} is keyed: pass the key of the instance, context({spec.cls.__name__}, 'key')."
            )
        inv = Invocation(
            id=self.engine.admission.new_id(), spec=spec, handler=handler, key=key, input=b"", status="running"
        )
        self.engine.invocations[inv.id] = inv
        return inv, handler_kind

    def invoke(self, handler: Callable[..., Any], arg: Any = MISSING, *, context: MockContext) -> Any:
        """Call a handler method with a context from :meth:`context`, checking that the context is
        of the kind the method's annotation asks for; returns what the method returns."""
        return self._sync(self.ainvoke(handler, arg, context=context))

    async def ainvoke(self, handler: Callable[..., Any], arg: Any = MISSING, *, context: MockContext) -> Any:
        spec, handler_spec = self.engine.registry.for_method(handler)
        expected = handler_spec.context_kind
        if context.handler_kind != expected:
            raise WrongContext(
                f"{spec.cls.__name__}.{handler_spec.attr} takes {CONTEXT_ANNOTATIONS[expected]}, but was given a "
                f"context of a {context.handler_kind} handler ({CONTEXT_ANNOTATIONS[context.handler_kind]}). "
                "Get the right one with "
                f"restate_mock.context({spec.cls.__name__}.{handler_spec.attr}, key=...)."
            )
        if context.invocation.spec.name != spec.name:
            raise WrongContext(
                f"{spec.cls.__name__}.{handler_spec.attr} was given a context of {context.invocation.spec.name}; "
                f"use restate_mock.context({spec.cls.__name__}.{handler_spec.attr}, key=...)."
            )
        method = getattr(spec.cls(), handler_spec.attr)
        if handler_spec.takes_input and arg is MISSING:
            raise TypeError(f"{spec.name}.{handler_spec.attr} takes an input; pass it.")
        coroutine = method(context, arg) if handler_spec.takes_input else method(context)
        return await self.arun(coroutine, context=context)

    def run(self, awaitable: Awaitable[T], *, context: MockContext | None = None) -> T:
        """Run handler code (a coroutine using a context from :meth:`context`) inside the mock:
        calls, sleeps and awakeables work as in a handler; returns its result."""
        return self._sync(self.arun(awaitable, context=context))

    async def arun(self, awaitable: Awaitable[T], *, context: MockContext | None = None) -> T:
        engine = self.engine

        async def body() -> T:
            task = asyncio.ensure_future(awaitable)
            if not await engine.settle_until(task.done, advance_clock=True, run_sends=False):
                where = engine.explain(context.invocation) if context is not None else "it awaits something"
                task.cancel()
                raise Deadlock(f"The handler code cannot finish: {where}.")
            return task.result()

        return await engine.drive(body)
