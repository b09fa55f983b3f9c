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
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from typing import Any, Literal, TypeVar

from asgiref.current_thread_executor import CurrentThreadExecutor
from asgiref.sync import AsyncToSync, sync_to_async
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from ..client import MISSING, HandlerRef, RestateClient, ServiceProxy
from ..client.core import HandlerCalls, method_ref
from ..client.transport import Accepted, Address, Request, on_commit_key
from ..exceptions import HandlerError, IngressError, IngressTimeout, InvocationNotReady
from ..handlers import RestateService
from ..outbox import Outcome
from ..reflect import CONTEXT_ANNOTATIONS, ServiceSpec
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
from .replay import Failure
from .waiting import not_false

T = TypeVar("T")


class MockRestate(HandlerCalls, RestateTestBackend):
    """The mock Restate: handler classes from the registry, run in this process.

    It is a transport of the client (:attr:`transport`): ``restate_mock.object(Cart, "a")``
    returns the client's own references, and ``with client.using(restate_mock):`` (which the
    ``restate_mock`` fixture does for the project's ``client``) sends a view's calls here.

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
        #: The mock as the client's transport.
        self.transport = MockTransport(self)
        #: A client whose references run here.
        self.client = RestateClient(transport=self.transport)

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

    # -- calls and sends: the client's references, run here --------------------------------

    def service(self, cls: type[RestateService] | str) -> ServiceProxy:
        """The handlers of a Service: ``restate_mock.service(Greeter).greet("Ada")``."""
        return ServiceProxy(self.client, self._spec(cls, "service"), None)

    def object(self, cls: type[RestateService] | str, key: str) -> ServiceProxy:
        """The handlers of one Virtual Object: ``restate_mock.object(Cart, "alice").add_item(item)``."""
        return ServiceProxy(self.client, self._spec(cls, "object"), key)

    def workflow(self, cls: type[RestateService] | str, workflow_id: str) -> ServiceProxy:
        """One workflow: ``.run.send(...)`` starts it, shared handlers are called like any other."""
        return ServiceProxy(self.client, self._spec(cls, "workflow"), workflow_id)

    def ref(self, handler: Callable[..., Any], *, key: str | None = None) -> HandlerRef:
        """The reference to a handler method; ``restate_mock.call(Cart.add_item, item, key="alice")``
        and ``restate_mock.send(...)`` go through it, typed as on the client."""
        return method_ref(self.client, self.engine.registry, handler, key)

    def _spec(self, cls: type[RestateService] | str, kind: str) -> ServiceSpec:
        return self.engine.registry.spec(cls, kind, via="restate_mock")

    # -- moving things along ------------------------------------------------------------

    def drain(self, *, advance_clock: bool = True) -> None:
        """Run queued sends and everything they cause until nothing can make progress. With
        ``advance_clock`` (the default) the virtual clock moves through sleeps and delayed sends;
        without it, only what is due now runs (to act before a timeout fires, say)."""
        self._sync(self.adrain(advance_clock=advance_clock))

    async def adrain(self, *, advance_clock: bool = True) -> None:
        self.transport.release_committed()

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
        """Run what is queued, then ``check()``; while it raises AssertionError (or returns
        ``False``), let virtual time pass one timer at a time (up to ``timeout`` seconds of it), as a
        real server would."""
        deadline = self.now + timeout
        while True:
            self.drain(advance_clock=False)
            try:
                return not_false(check())
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
        """Sends waiting for :meth:`drain`, oldest first (``send_on_commit`` sends whose block committed too)."""
        self.transport.release_committed()
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


class MockTransport:
    """The mock as a :class:`~django_restate.client.Transport`: what the client's references ask of
    the ingress, answered by running the handler here.

    Calls run at once (and what they call); sends are queued until the test drains the mock.
    ``timeout`` is virtual time: a call whose handler would need longer raises
    :class:`~django_restate.exceptions.IngressTimeout`, and the invocation goes on, as on a server.
    """

    def __init__(self, mock: MockRestate) -> None:
        self.mock = mock
        self.engine = mock.engine
        #: ``send_on_commit`` sends registered inside a transaction, with the connection that holds
        #: their ``on_commit`` callback. The object itself, not its alias: code running on the mock's
        #: loop (a drain, an async view) may see another connection object under the same alias.
        self._on_commit: list[tuple[BaseDatabaseWrapper, MockPending]] = []

    def __repr__(self) -> str:
        return "<MockRestate>"

    # -- call ------------------------------------------------------------------------------

    def call(self, request: Request) -> bytes:
        self.release_committed()
        return self.mock._sync(self._call(request))

    async def acall(self, request: Request) -> bytes:
        if _sync_caller_waits():
            return await sync_to_async(self.call, thread_sensitive=True)(request)
        self.release_committed()
        return await self._call(request)

    async def _call(self, request: Request) -> bytes:
        engine = self.engine
        handler = request.handler
        inv, new = engine.admission.admit(
            request.service,
            handler,
            request.key or "",
            request.body or b"",
            headers=dict(request.headers or {}),
            idempotency_key=request.idempotency_key,
        )

        async def body() -> bytes | Failure | None:
            if not new and handler.kind == "workflow" and inv.done:
                return Failure(409, "the workflow method was already invoked")
            if new:
                engine.submit(inv)
            else:  # sent before with this idempotency key: it runs now
                engine.run_now(inv)
            return await self._wait(inv, request.timeout, "when stuck", "The test called")

        return _outcome(inv, await engine.drive(body), request.target)

    async def _wait(
        self, inv: Invocation, timeout: float | None, run_sends: bool | Literal["when stuck"], who: str
    ) -> bytes | Failure | None:
        """Run until ``inv`` is done, or until ``timeout`` seconds of virtual time would pass."""
        engine, clock = self.engine, self.engine.clock
        deadline = None if timeout is None else clock.now + timeout

        def out_of_time() -> bool:
            if deadline is None:
                return False
            due = clock.next_due()
            return (
                due is not None and due > deadline and not any(s.due_at <= clock.now for s in engine.admission.outbox)
            )

        await engine.settle_until(lambda: inv.done or out_of_time(), advance_clock=True, run_sends=run_sends)
        if inv.done:
            return inv.output
        if out_of_time():
            assert timeout is not None and deadline is not None
            clock.now = max(clock.now, deadline)  # the caller waited that long
            raise IngressTimeout("restate_mock", timeout)
        raise Deadlock(f"{who} {inv.target}, which cannot finish: {engine.explain(inv)}.")

    # -- send ------------------------------------------------------------------------------

    def send(self, request: Request) -> Accepted:
        self.release_committed()
        return self._queue(request)

    def _queue(self, request: Request) -> Accepted:
        engine = self.engine
        known = len(engine.invocations)
        invocation_id = engine.send_from(
            None,
            request.service,
            request.handler,
            request.key or "",
            request.body or b"",
            request.delay or 0.0,
            request.idempotency_key,
            dict(request.headers or {}),
        )
        return Accepted(invocation_id, "Accepted" if len(engine.invocations) > known else "PreviouslyAccepted")

    async def asend(self, request: Request) -> Accepted:
        if _sync_caller_waits():  # the test's connection (and its on-commit queue) lives in that thread
            return await sync_to_async(self.send, thread_sensitive=True)(request)
        return self.send(request)  # queues only: nothing runs until the test drains

    def send_on_commit(self, request: Request, using: str | None) -> MockPending:
        """Queued when the transaction commits (``transaction.on_commit``), as the ingress would get it.

        A test wrapped in a transaction (the ``db`` fixture, ``TestCase``) never commits, so the
        mock sends what the code under test committed into the test's transaction the next time it
        is used (a drain, a call, an attach: see :meth:`release_committed`); the sends still only
        run when the test drains.
        """
        self.release_committed()
        alias = using or DEFAULT_DB_ALIAS
        sent = replace(request, idempotency_key=on_commit_key(request, alias))
        pending = MockPending(self, sent, request.idempotency_key)
        connection = connections[alias]
        if connection.in_atomic_block:
            self._on_commit.append((connection, pending))
        transaction.on_commit(pending, using=alias)
        return pending

    def release_committed(self) -> None:
        """Send the ``send_on_commit`` sends whose atomic blocks all committed, up to the test's own
        transaction; those of a block that rolled back are gone (Django dropped them), those of a
        block still open wait. Under ``transactional_db`` the real commit has sent them already."""
        waiting: list[tuple[BaseDatabaseWrapper, MockPending]] = []
        for connection, pending in self._on_commit:
            entry = next((e for e in connection.run_on_commit if e[1] is pending), None)
            if entry is None:  # sent at a real commit, or rolled back with its savepoint
                continue
            if entry[0] & set(connection.savepoint_ids) - _test_savepoints(connection):
                waiting.append((connection, pending))  # a block of the code under test is still open
                continue
            connection.run_on_commit.remove(entry)
            pending.deliver()
        self._on_commit = waiting

    # -- invocations that exist --------------------------------------------------------------

    def attach(self, address: Address, timeout: float | None = None) -> bytes:
        self.release_committed()
        return self.mock._sync(self._attach(address, timeout))

    async def aattach(self, address: Address, timeout: float | None = None) -> bytes:
        if _sync_caller_waits():
            return await sync_to_async(self.attach, thread_sensitive=True)(address, timeout)
        self.release_committed()
        return await self._attach(address, timeout)

    async def _attach(self, address: Address, timeout: float | None) -> bytes:
        inv = self._find(address)

        async def body() -> bytes | Failure | None:
            return await self._wait(inv, timeout, True, "The test waits for")

        return _outcome(inv, await self.engine.drive(body), address.target)

    def output(self, address: Address) -> bytes:
        self.release_committed()
        inv = self._find(address)
        if not inv.done:
            raise InvocationNotReady(470, "invocation is not completed yet", address.target, inv.id)
        return _outcome(inv, inv.output, address.target)

    async def aoutput(self, address: Address) -> bytes:
        if _sync_caller_waits():
            return await sync_to_async(self.output, thread_sensitive=True)(address)
        return self.output(address)

    def _find(self, address: Address) -> Invocation:
        """The invocation an address names, looked up as the ingress does: by id, by idempotency key
        (with the handler and key it was sent to), or a workflow's run by its workflow id."""
        admission = self.engine.admission
        inv: Invocation | None
        if address.invocation_id is not None:
            inv = admission.invocations.get(address.invocation_id)
        else:
            service, handler = address.service, address.handler
            assert service is not None and handler is not None
            if address.idempotency_key is not None:
                key = address.key or ""
                inv = admission.by_idempotency_key(service.name, key, handler.name, address.idempotency_key)
            else:
                inv = admission.workflow_run(service.name, address.key or "")
        if inv is None:
            raise IngressError(404, "invocation not found", address.target)
        return inv


class MockPending:
    """A ``send_on_commit`` send to the mock: queued when its transaction commits (the ``on_commit``
    callback), run when the test drains."""

    __slots__ = ("transport", "request", "request_key", "outcome")

    def __init__(self, transport: MockTransport, request: Request, request_key: str | None) -> None:
        self.transport = transport
        self.request = request
        #: The idempotency key the caller gave, before numbering (what ``derive_key`` counts).
        self.request_key = request_key
        self.outcome: Outcome | None = None

    @property
    def target(self) -> str:
        return self.request.target

    @property
    def idempotency_key(self) -> str | None:
        return self.request.idempotency_key

    @property
    def error(self) -> None:
        return None  # the mock is never down

    def __call__(self) -> None:
        self.send()

    def send(self) -> Outcome:
        self.transport.release_committed()
        return self.deliver()

    def deliver(self) -> Outcome:
        accepted = self.transport._queue(self.request)
        self.outcome = Outcome("delivered", accepted.invocation_id, accepted.status)
        return self.outcome

    def __repr__(self) -> str:
        return f"<MockPending {self.target} {self.outcome.verdict if self.outcome else 'uncommitted'}>"


def _outcome(inv: Invocation, output: bytes | Failure | None, target: str) -> bytes:
    """What the ingress would answer: the output bytes, or the failure as the client raises it."""
    if isinstance(output, Failure):
        raise HandlerError(output.code, output.message, target, inv.id)
    return output or b""


def _sync_caller_waits() -> bool:
    """Inside ``async_to_sync`` called from a sync thread that owns the test's database connection
    (an async view under Django's test client): the mock must run there, on that connection."""
    return isinstance(getattr(AsyncToSync.executors, "current", None), CurrentThreadExecutor)


def _test_savepoints(connection: BaseDatabaseWrapper) -> set[str]:
    """The open savepoints that a test case's own atomic blocks made (the ``db`` fixture, ``TestCase``)."""
    # Every nested block adds one savepoint id (or None), so the two stacks line up from the top.
    blocks = zip(reversed(connection.atomic_blocks), reversed(connection.savepoint_ids), strict=False)
    return {sid for block, sid in blocks if sid is not None and getattr(block, "_from_testcase", False)}


@contextmanager
def mock_restate(**options: Any) -> Iterator[MockRestate]:
    """A :class:`MockRestate` that the project's ``client`` talks to inside the block: for
    unittest-style tests (``self.restate = self.enterContext(mock_restate())`` in ``setUp``),
    as the ``restate_mock`` fixture does for pytest. ``options`` are :class:`MockRestate`'s."""
    from ..client import client

    mock = MockRestate(**options)
    try:
        with client.using(mock):
            yield mock
    finally:
        mock.close()
