"""The mock context: the Restate context API, journaled, with state in the ORM, and its futures.

One class serves every kind of handler, as the SDK's own ``ServerInvocationContext``
does; the handler's kind decides what it may do (shared handlers only read state,
only workflows have promises), and a step the real server would refuse raises
`django_restate.testing.errors.RetryForever` naming the mistake.

Every durable step is appended to the invocation's journal. When the invocation is
retried or resumed the handler runs again from the top and each step is matched
against the journal and answered from it, as Restate replays.

The context asks the engine for everything outside the handler (other invocations, timers,
the database) through `ContextEngine`, and the futures it returns live here, next to
it, as the SDK keeps ``ServerDurableFuture`` next to ``ServerInvocationContext``. They
subclass the SDK's own future classes so that ``restate.gather``, ``restate.select`` and
``restate.as_completed`` (which only accept SDK futures) work on them too.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import hashlib
import inspect
import typing
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from random import Random
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar
from uuid import UUID

import restate
from restate.context import (
    AttemptFinishedEvent,
    DurablePromise,
    HandlerType,
    Request,
    RunOptions,
    ScopedContext,
    SendHandle,
)
from restate.exceptions import TerminalError
from restate.serde import BytesSerde, DefaultSerde, Serde
from restate.server_context import LazyFuture, ServerCallDurableFuture, ServerDurableFuture, ServerDurableSleepFuture
from restate.types import extract_core_type
from restate.vm import AllCompletedUnresolvedFuture, FirstCompletedUnresolvedFuture, SingleUnresolvedFuture

from ..reflect import HandlerSpec, ServiceSpec
from .errors import RetryForever
from .invocation import Invocation
from .replay import Entry, Failure

if TYPE_CHECKING:
    from .store import StateWrite

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741  (the SDK's own name)
O = TypeVar("O")  # noqa: E741

#: The SDK's defaults, shared: it checks ``isinstance(serde, DefaultSerde)`` and copies before changing.
DEFAULT_SERDE: DefaultSerde[Any] = DefaultSerde()
DEFAULT_RUN_OPTIONS: RunOptions[Any] = RunOptions()

#: Handler kinds that may write state, and those that may read it.
WRITERS = {"exclusive", "workflow"}
READERS = {"exclusive", "workflow", "shared", "workflow_shared"}

Target = tuple[ServiceSpec, HandlerSpec]


class ContextEngine(Protocol):
    """What a `MockContext` asks of the engine that runs it: everything outside the
    handler's own journal. ``inv`` is always the context's own invocation."""

    def fail_test(self, error: BaseException) -> None:
        """Remember an error the test must see even if handler code catches it."""

    def kill_now(self, inv: Invocation, step: int) -> bool:
        """Whether a ``kill_at`` fault kills ``inv`` at this new step."""

    def now(self) -> float:
        """The virtual clock."""

    # waiting
    async def flush(self, inv: Invocation) -> None:
        """Write what handlers changed to the database before ``inv`` waits."""

    async def block(self, inv: Invocation, entry: Entry) -> None:
        """Wait until ``entry`` completes (or a cancellation, suspension or kill arrives)."""

    async def block_any(self, inv: Invocation, entries: list[Entry]) -> None:
        """Wait until one of ``entries`` completes."""

    # state and ctx.run
    def state_of(self, inv: Invocation) -> dict[str, bytes]: ...
    def write_state(self, inv: Invocation, write: StateWrite) -> None: ...
    async def execute_run(
        self, inv: Invocation, entry: Entry, action: Callable[[], Any], serde: Serde[Any], options: RunOptions[Any]
    ) -> None: ...
    def schedule_sleep(self, inv: Invocation, entry: Entry, seconds: float) -> None: ...

    # other invocations
    def resolve_method(self, tpe: Any, how: str, caller: Invocation) -> tuple[Target, Serde[Any], Serde[Any]]: ...
    def resolve_name(self, service: str, handler: str, caller: Invocation) -> Target: ...
    def call_from(
        self,
        caller: Invocation,
        entry: Entry,
        spec: ServiceSpec,
        handler: HandlerSpec,
        key: str,
        buffer: bytes,
        idempotency_key: str | None,
        headers: dict[str, str],
    ) -> None: ...
    def send_from(
        self,
        caller: Invocation | None,
        spec: ServiceSpec,
        handler: HandlerSpec,
        key: str,
        buffer: bytes,
        delay: float,
        idempotency_key: str | None,
        headers: dict[str, str],
    ) -> str: ...
    def attach_from(self, caller: Invocation, entry: Entry, invocation_id: str) -> None: ...
    def cancel(self, invocation_id: str) -> None: ...

    # awakeables and promises
    def new_awakeable(self, inv: Invocation, entry: Entry) -> str: ...
    def complete_awakeable(self, awakeable_id: str, result: bytes | Failure) -> bool: ...
    def await_promise(self, inv: Invocation, entry: Entry, name: str) -> None: ...
    def peek_promise(self, inv: Invocation, entry: Entry, name: str) -> None: ...
    def complete_promise_from(self, inv: Invocation, entry: Entry, name: str, result: bytes | Failure) -> None: ...


class AttemptFailed(BaseException):
    """A ``ctx.run`` action failed with a retryable error and has no retry options of its own:
    the whole invocation attempt fails and is retried, as in the SDK (a ``BaseException``, so
    handler code that catches ``Exception`` cannot swallow it)."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(repr(error))
        self.error = error


class Killed(BaseException):
    """The invocation was killed: it stops where it is, without running any more handler code."""


class AttemptFinished(AttemptFinishedEvent):
    """``ctx.request().attempt_finished_event``: the engine sets it when the attempt ends."""

    def __init__(self) -> None:
        self._set = False
        # Made by the first wait(): an asyncio.Event per attempt cost more than most steps, and
        # few handlers wait for the end of their attempt.
        self._event: asyncio.Event | None = None

    def set(self) -> None:
        self._set = True
        if self._event is not None:
            self._event.set()

    def is_set(self) -> bool:
        return self._set

    async def wait(self) -> None:
        if self._set:
            return
        if self._event is None:
            self._event = asyncio.Event()
        await self._event.wait()


class _Completions:
    """What the SDK's combinators (``restate.gather``, ``select``) ask of ``ctx.vm``."""

    def __init__(self, ctx: MockContext) -> None:
        self.ctx = ctx

    def is_completed(self, handle: int) -> bool:
        entry = self.ctx.invocation.journal[handle]
        return entry.completed or entry.cancelled_here


class MockContext(restate.WorkflowContext):
    """A Restate context backed by the mock engine. Get one from ``restate_mock.context(...)``
    to call handler code directly; the mock creates one per invocation otherwise."""

    def __init__(self, engine: ContextEngine, invocation: Invocation, handler_kind: str) -> None:
        self.engine = engine
        self.invocation = invocation
        #: "service", "exclusive", "shared", "workflow" or "workflow_shared".
        self.handler_kind = handler_kind
        self.vm = _Completions(self)
        #: Set by the engine when this attempt ends (``ctx.request().attempt_finished_event``).
        self.attempt_finished = AttemptFinished()
        self._runs: dict[int, tuple[Callable[[], Any], Serde[Any], RunOptions[Any]]] = {}
        self._random: Random | None = None
        self._cleared: set[str] = set()

    # -- journal -----------------------------------------------------------------

    def _step(self, kind: str, name: str = "", payload: bytes | None = None) -> tuple[Entry, bool]:
        """The journal entry for the handler's next step: the recorded one when replaying
        (which must match), a new one otherwise. Returns (entry, is_new)."""
        replay = self.invocation.replay
        entry = replay.replayed(kind, name, payload)
        if entry is not None:
            return entry, False
        if self.engine.kill_now(self.invocation, replay.position):
            raise Killed()
        return replay.record(kind, name, payload), True

    async def _await(self, entry: Entry) -> bytes | None:
        """Wait for a step's result; a failure is raised as the TerminalError Restate recorded."""
        if entry.index in self._runs:
            await self._execute_run(entry)
        await self.engine.flush(self.invocation)
        if not entry.completed and not entry.cancelled_here:
            await self.engine.block(self.invocation, entry)
        if entry.cancelled_here:
            raise TerminalError("cancelled", 409)
        result = entry.result
        if isinstance(result, Failure):
            raise TerminalError(result.message, result.code)
        return result

    def _future(self, entry: Entry, serde: Serde[Any] | None) -> MockFuture[Any]:
        async def fetch() -> Any:
            result = await self._await(entry)
            if result is None or serde is None:
                return result
            return serde.deserialize(result)

        return MockFuture(self, entry.index, fetch)

    async def create_poll_or_cancel_coroutine(self, future: Any) -> None:
        """Used by ``restate.gather`` / ``select`` / ``as_completed`` to wait for several steps."""
        handles = _handles(future)
        entries = [self.invocation.journal[h] for h in handles]
        for entry in entries:
            if entry.index in self._runs:
                await self._execute_run(entry)
        await self.engine.flush(self.invocation)
        if isinstance(future, FirstCompletedUnresolvedFuture):
            await self.engine.block_any(self.invocation, entries)
        else:
            for entry in entries:
                if not entry.completed and not entry.cancelled_here:
                    await self.engine.block(self.invocation, entry)

    # -- invocation --------------------------------------------------------------

    def request(self) -> Request:
        inv = self.invocation
        return Request(
            id=inv.id,
            headers=dict(inv.headers),
            attempt_headers={},
            body=inv.input,
            attempt_finished_event=self.attempt_finished,
            # The SDK (1.3) leaves it unset with restate-server 1.7, even when the caller sent one.
            idempotency_key=None,
        )

    def key(self) -> str:
        return self.invocation.key

    def random(self) -> Random:
        if self._random is None:  # seeded by the invocation: every attempt draws the same numbers
            self._random = Random(int.from_bytes(hashlib.sha256(self.invocation.id.encode()).digest()[:8], "big"))
        return self._random

    def uuid(self) -> UUID:
        return UUID(int=self.random().getrandbits(128), version=4)

    def time(self) -> MockFuture[float]:
        engine = self.engine
        return self.run_typed("timestamp", lambda: engine.now())

    # -- state -------------------------------------------------------------------

    def _may(self, op: str, name: str, *, write: bool) -> None:
        allowed = WRITERS if write else READERS
        if self.handler_kind in allowed:
            return
        target = self.invocation.target
        if self.handler_kind == "service":
            raise RetryForever(
                f"{target} is a Service handler and called ctx.{op}({name!r}): services have no state "
                '("this handler type cannot read state"). Keep state in a VirtualObject or a Workflow.',
                "RT0017",
            )
        raise RetryForever(
            f"{target} is a shared handler and called ctx.{op}({name!r}): shared handlers only read state; "
            'the server refuses the step ("this handler type cannot write state"). Make the handler '
            "exclusive (restate.ObjectContext) or write from an exclusive handler.",
            "RT0017",
        )

    def get(
        self,
        name: str,
        serde: Serde[T] = DEFAULT_SERDE,
        type_hint: typing.Optional[typing.Type[T]] = None,  # noqa: UP006,UP045  (the SDK's signature)
        entry_name: str | None = None,
    ) -> MockFuture[T | None]:
        self._may("get", name, write=False)
        entry, new = self._step("get_state", name)
        if new:
            entry.complete(self.engine.state_of(self.invocation).get(name))
        if isinstance(serde, DefaultSerde):
            serde = serde.with_maybe_type(type_hint)
        return self._future(entry, serde)

    def state_keys(self, entry_name: str | None = None) -> MockFuture[list[str]]:
        self._may("state_keys", "", write=False)
        entry, new = self._step("get_state_keys")
        if new:
            # Like the SDK (1.3, with restate-server 1.7): a key cleared with ctx.clear() is still
            # listed until the invocation ends; ctx.clear_all() empties the list at once.
            keys = sorted(set(self.engine.state_of(self.invocation)) | self._cleared)
            entry.complete(DEFAULT_SERDE.serialize(keys))
        return self._future(entry, DEFAULT_SERDE)

    def set(self, name: str, value: T, serde: Serde[T] = DEFAULT_SERDE, entry_name: str | None = None) -> None:
        self._may("set", name, write=True)
        if isinstance(serde, DefaultSerde):
            serde = serde.with_maybe_type(type(value))
        buffer = bytes(_serialize(serde, value, f"ctx.set({name!r}, ...)", self.invocation.target))
        entry, new = self._step("set_state", name, buffer)
        entry.complete(None)
        if new:
            self.engine.write_state(self.invocation, ("set", name, buffer))

    def clear(self, name: str, entry_name: str | None = None) -> None:
        self._may("clear", name, write=True)
        entry, new = self._step("clear_state", name)
        entry.complete(None)
        self._cleared.add(name)
        if new:
            self.engine.write_state(self.invocation, ("clear", name, None))

    def clear_all(self, entry_name: str | None = None) -> None:
        self._may("clear_all", "", write=True)
        entry, new = self._step("clear_all_state")
        entry.complete(None)
        self._cleared.clear()
        if new:
            self.engine.write_state(self.invocation, ("clear_all", "", None))

    # -- run ---------------------------------------------------------------------

    def run(
        self,
        name: str,
        action: Any,
        serde: Serde[T] = DEFAULT_SERDE,
        max_attempts: int | None = None,
        max_retry_duration: timedelta | None = None,
        type_hint: typing.Optional[typing.Type[T]] = None,  # noqa: UP006,UP045
        args: tuple[Any, ...] | None = None,
    ) -> MockFuture[T]:
        if isinstance(serde, DefaultSerde):
            if type_hint is None:
                type_hint = _return_annotation(action)
            serde = serde.with_maybe_type(type_hint)
        func = functools.partial(action, *args) if args is not None else action
        options: RunOptions[T] = RunOptions(serde=serde, max_attempts=max_attempts, max_duration=max_retry_duration)
        return self._run_step(name, func, options)

    def run_typed(
        self,
        name: str,
        action: Callable[..., Coroutine[Any, Any, T]] | Callable[..., T],
        options: RunOptions[T] = DEFAULT_RUN_OPTIONS,
        /,
        *args: Any,
        **kwargs: Any,
    ) -> MockFuture[T]:
        if isinstance(options.serde, DefaultSerde):
            options = _typed_options(action, options)
        return self._run_step(name, functools.partial(action, *args, **kwargs), options)

    def _run_step(self, name: str, action: Callable[[], Any], options: RunOptions[T]) -> MockFuture[T]:
        entry, _ = self._step("run", name)
        if not entry.completed and not self.invocation.verify:
            self._runs[entry.index] = (action, options.serde, options)
        return self._future(entry, options.serde)

    async def _execute_run(self, entry: Entry) -> None:
        action, serde, options = self._runs.pop(entry.index)
        await self.engine.execute_run(self.invocation, entry, action, serde, options)

    # -- timers ------------------------------------------------------------------

    def sleep(self, delta: timedelta, name: str | None = None) -> MockSleepFuture:
        entry, new = self._step("sleep", name or "")
        if new:
            self.engine.schedule_sleep(self.invocation, entry, delta.total_seconds())

        async def fetch() -> None:
            await self._await(entry)

        return MockSleepFuture(self, entry.index, fetch)

    # -- calls and sends -----------------------------------------------------------

    def _call(
        self,
        target: tuple[Any, Any],
        key: str | None,
        buffer: bytes,
        output_serde: Serde[Any],
        idempotency_key: str | None,
        headers: dict[str, str] | None,
    ) -> MockCallFuture[Any]:
        spec, handler = target
        entry, new = self._step("call", spec.target(key, handler), buffer)
        if new:
            self.engine.call_from(
                self.invocation, entry, spec, handler, key or "", buffer, idempotency_key, dict(headers or {})
            )

        async def fetch() -> Any:
            result = await self._await(entry)
            return output_serde.deserialize(result or b"")

        async def invocation_id() -> str:
            return str(entry.detail["invocation_id"])

        return MockCallFuture(self, entry.index, fetch, invocation_id)

    def _send(
        self,
        target: tuple[Any, Any],
        key: str | None,
        buffer: bytes,
        delay: timedelta | None,
        idempotency_key: str | None,
        headers: dict[str, str] | None,
    ) -> SendHandle:
        spec, handler = target
        entry, new = self._step("send", spec.target(key, handler), buffer)
        if new:
            invocation_id = self.engine.send_from(
                self.invocation,
                spec,
                handler,
                key or "",
                buffer,
                delay.total_seconds() if delay else 0.0,
                idempotency_key,
                dict(headers or {}),
            )
            entry.detail["invocation_id"] = invocation_id
            entry.complete(invocation_id.encode())
        return MockSendHandle(self, str(entry.detail["invocation_id"]))

    def _typed_call(
        self, method: str, tpe: Any, key: str | None, arg: Any, idempotency_key: str | None, headers: Any
    ) -> MockCallFuture[Any]:
        target, input_serde, output_serde = self.engine.resolve_method(tpe, f"ctx.{method}", self.invocation)
        buffer = bytes(_serialize(input_serde, arg, f"ctx.{method}(...)", self.invocation.target))
        return self._call(target, key, buffer, output_serde, idempotency_key, headers)

    def _typed_send(
        self,
        method: str,
        tpe: Any,
        key: str | None,
        arg: Any,
        delay: timedelta | None,
        idempotency_key: str | None,
        headers: Any,
    ) -> SendHandle:
        target, input_serde, _ = self.engine.resolve_method(tpe, f"ctx.{method}", self.invocation)
        buffer = bytes(_serialize(input_serde, arg, f"ctx.{method}(...)", self.invocation.target))
        return self._send(target, key, buffer, delay, idempotency_key, headers)

    def service_call(
        self,
        tpe: HandlerType[I, O],
        arg: I,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> MockCallFuture[O]:
        return self._typed_call("service_call", tpe, None, arg, idempotency_key, headers)

    def service_send(
        self,
        tpe: HandlerType[I, O],
        arg: I,
        send_delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> SendHandle:
        return self._typed_send("service_send", tpe, None, arg, send_delay, idempotency_key, headers)

    def object_call(
        self,
        tpe: HandlerType[I, O],
        key: str,
        arg: I,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> MockCallFuture[O]:
        return self._typed_call("object_call", tpe, key, arg, idempotency_key, headers)

    def object_send(
        self,
        tpe: HandlerType[I, O],
        key: str,
        arg: I,
        send_delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> SendHandle:
        return self._typed_send("object_send", tpe, key, arg, send_delay, idempotency_key, headers)

    def workflow_call(
        self,
        tpe: HandlerType[I, O],
        key: str,
        arg: I,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> MockCallFuture[O]:
        return self._typed_call("workflow_call", tpe, key, arg, idempotency_key, headers)

    def workflow_send(
        self,
        tpe: HandlerType[I, O],
        key: str,
        arg: I,
        send_delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> SendHandle:
        return self._typed_send("workflow_send", tpe, key, arg, send_delay, idempotency_key, headers)

    def generic_call(
        self,
        service: str,
        handler: str,
        arg: bytes,
        key: str | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
        scope: str | None = None,
        limit_key: str | None = None,
    ) -> MockCallFuture[bytes]:
        target = self.engine.resolve_name(service, handler, self.invocation)
        return self._call(target, key, bytes(arg), BytesSerde(), idempotency_key, headers)

    def generic_send(
        self,
        service: str,
        handler: str,
        arg: bytes,
        key: str | None = None,
        send_delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
        scope: str | None = None,
        limit_key: str | None = None,
    ) -> SendHandle:
        target = self.engine.resolve_name(service, handler, self.invocation)
        return self._send(target, key, bytes(arg), send_delay, idempotency_key, headers)

    def cancel_invocation(self, invocation_id: str) -> None:
        if invocation_id is None:
            raise ValueError("invocation_id cannot be None")
        entry, new = self._step("cancel_invocation", invocation_id)
        entry.complete(None)
        if new:
            self.engine.cancel(invocation_id)

    def attach_invocation(
        self,
        invocation_id: str,
        serde: Serde[T] = DEFAULT_SERDE,
        type_hint: typing.Optional[typing.Type[T]] = None,  # noqa: UP006,UP045
    ) -> MockFuture[T]:
        if invocation_id is None:
            raise ValueError("invocation_id cannot be None")
        entry, new = self._step("attach_invocation", invocation_id)
        if new:
            self.engine.attach_from(self.invocation, entry, invocation_id)
        if isinstance(serde, DefaultSerde):
            serde = serde.with_maybe_type(type_hint)
        return self._future(entry, serde)

    # -- awakeables and promises -----------------------------------------------------

    def awakeable(
        self,
        serde: Serde[T] = DEFAULT_SERDE,
        type_hint: typing.Optional[typing.Type[T]] = None,  # noqa: UP006,UP045
    ) -> tuple[str, MockFuture[T]]:
        entry, new = self._step("awakeable")
        if new:
            entry.detail["awakeable_id"] = self.engine.new_awakeable(self.invocation, entry)
        if isinstance(serde, DefaultSerde):
            serde = serde.with_maybe_type(type_hint)
        return str(entry.detail["awakeable_id"]), self._future(entry, serde)

    def resolve_awakeable(self, name: str, value: I, serde: Serde[I] = DEFAULT_SERDE) -> None:
        if isinstance(serde, DefaultSerde):
            serde = serde.with_maybe_type(type(value))
        buffer = bytes(_serialize(serde, value, "ctx.resolve_awakeable(...)", self.invocation.target))
        entry, new = self._step("resolve_awakeable", name, buffer)
        entry.complete(None)
        if new:
            self.engine.complete_awakeable(name, buffer)

    def reject_awakeable(self, name: str, failure_message: str, failure_code: int = 500) -> None:
        entry, new = self._step("reject_awakeable", name, failure_message.encode())
        entry.complete(None)
        if new:
            self.engine.complete_awakeable(name, Failure(failure_code, failure_message))

    def promise(
        self,
        name: str,
        serde: Serde[T] = DEFAULT_SERDE,
        type_hint: typing.Optional[typing.Type[T]] = None,  # noqa: UP006,UP045
    ) -> MockDurablePromise[T]:
        if self.handler_kind not in ("workflow", "workflow_shared"):
            raise RetryForever(
                f"{self.invocation.target} called ctx.promise({name!r}), but durable promises belong to "
                "workflows. Use an awakeable (ctx.awakeable()) in services and objects.",
                "RT0017",
            )
        if isinstance(serde, DefaultSerde):
            serde = serde.with_maybe_type(type_hint)
        return MockDurablePromise(
            name,
            value=lambda: self._promise_value(name, serde),
            peek=lambda: self._promise_peek(name, serde),
            resolve=lambda value: self._promise_complete(name, value, serde),
            reject=lambda message, code: self._promise_complete(name, Failure(code, message), serde),
        )

    def _promise_value(self, name: str, serde: Serde[T]) -> MockFuture[T]:
        entry, new = self._step("get_promise", name)
        if new:
            self.engine.await_promise(self.invocation, entry, name)
        return self._future(entry, serde)

    def _promise_peek(self, name: str, serde: Serde[T]) -> MockFuture[T | None]:
        entry, new = self._step("peek_promise", name)
        if new:
            self.engine.peek_promise(self.invocation, entry, name)
        return self._future(entry, serde)

    def _promise_complete(self, name: str, value: Any, serde: Serde[Any]) -> Awaitable[None]:
        if isinstance(value, Failure):
            result: bytes | Failure = value
            payload = value.message.encode()
        else:
            result = payload = bytes(_serialize(serde, value, f"promise {name!r}.resolve(...)", self.invocation.target))
        entry, new = self._step("complete_promise", name, payload)
        if new:
            self.engine.complete_promise_from(self.invocation, entry, name, result)
        return self._future(entry, None)

    # -- preview APIs the mock does not model ---------------------------------------------

    def scope(self, scope: str) -> ScopedContext:
        raise NotImplementedError(
            "ctx.scope() is a preview API (restate-server flow control); the mock does not model it."
        )

    def signal(
        self,
        name: str,
        serde: Serde[T] = DEFAULT_SERDE,
        type_hint: typing.Optional[typing.Type[T]] = None,  # noqa: UP006,UP045
    ) -> MockFuture[T]:
        raise NotImplementedError("ctx.signal() is a preview API; the mock does not model it. Use an awakeable.")

    def resolve_signal(self, invocation_id: str, name: str, value: I, serde: Serde[I] = DEFAULT_SERDE) -> None:
        raise NotImplementedError("ctx.resolve_signal() is a preview API; the mock does not model it.")

    def reject_signal(self, invocation_id: str, name: str, failure_message: str, failure_code: int = 500) -> None:
        raise NotImplementedError("ctx.reject_signal() is a preview API; the mock does not model it.")


# -- futures ---------------------------------------------------------------------------------

AsyncDef = Callable[[], Coroutine[Any, Any, Any]]


class Fetch(LazyFuture[T]):
    """What a durable future awaits, as the SDK's ``LazyFuture``: its step's result, fetched at most
    once, however many await it. Fetched in the task that first awaits it rather than in a task of
    its own (the SDK's way cost a task and two more passes of the loop per step); whoever else
    awaits it meanwhile or later gets the same outcome."""

    __slots__ = ()

    async def get(self) -> T:
        if self.task is not None:
            return await self.task
        outcome: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self.task = typing.cast("asyncio.Task[T]", outcome)  # read only by done() and await
        try:
            result = await self.async_def()
        except asyncio.CancelledError:
            outcome.cancel()
            raise
        except BaseException as exc:
            outcome.set_exception(exc)
            outcome.exception()  # this awaiter raises it: not an exception "never retrieved"
            raise
        outcome.set_result(result)
        return result


class MockFuture(ServerDurableFuture[T]):
    """The result of one journal step; the step's index is its handle."""

    def __init__(self, ctx: MockContext, handle: int, fetch: AsyncDef) -> None:
        super().__init__(ctx, handle, fetch)  # type: ignore[arg-type]
        self.future = Fetch(fetch)


class MockSleepFuture(ServerDurableSleepFuture):
    def __init__(self, ctx: MockContext, handle: int, fetch: AsyncDef) -> None:
        super().__init__(ctx, handle, fetch)  # type: ignore[arg-type]
        self.future = Fetch(fetch)


class MockCallFuture(ServerCallDurableFuture[T]):
    def __init__(self, ctx: MockContext, handle: int, fetch: AsyncDef, invocation_id: AsyncDef) -> None:
        super().__init__(ctx, handle, fetch, invocation_id)  # type: ignore[arg-type]
        self.future = Fetch(fetch)


class MockSendHandle(SendHandle):
    def __init__(self, ctx: MockContext, invocation_id: str) -> None:
        self._ctx = ctx
        self._invocation_id = invocation_id

    async def invocation_id(self) -> str:
        return self._invocation_id

    async def cancel_invocation(self) -> None:
        self._ctx.cancel_invocation(self._invocation_id)


class MockDurablePromise(DurablePromise[T], Generic[T]):
    """A workflow's durable promise: ``value()`` blocks until it is resolved or rejected, from a
    shared handler, the run itself, or the test (``restate_mock.resolve_promise``)."""

    def __init__(
        self,
        name: str,
        value: Callable[[], MockFuture[T]],
        peek: Callable[[], MockFuture[T | None]],
        resolve: Callable[[T], Awaitable[None]],
        reject: Callable[[str, int], Awaitable[None]],
    ) -> None:
        super().__init__(name)
        self._value, self._peek, self._resolve, self._reject = value, peek, resolve, reject

    def value(self) -> MockFuture[T]:
        return self._value()

    def peek(self) -> Awaitable[T | None]:
        return self._peek()

    def resolve(self, value: T) -> Awaitable[None]:
        return self._resolve(value)

    def reject(self, message: str, code: int = 500) -> Awaitable[None]:
        return self._reject(message, code)

    def __await__(self) -> Any:
        return self.value().__await__()  # type: ignore[no-untyped-call]


_ANNOTATIONS: dict[Any, Any] = {}


def _return_annotation(action: Any) -> Any:
    """What the SDK reads to pick a run step's serde, cached per function (evaluating string
    annotations costs more than a mock step)."""
    code = getattr(action, "__code__", None)
    if code is None:
        return inspect.signature(action, eval_str=True).return_annotation
    if code not in _ANNOTATIONS:
        if len(_ANNOTATIONS) > 4096:
            _ANNOTATIONS.clear()
        _ANNOTATIONS[code] = inspect.signature(action, eval_str=True).return_annotation
    return _ANNOTATIONS[code]


_TYPED_DEFAULTS: dict[Any, RunOptions[Any]] = {}


def _typed_options(action: Any, options: RunOptions[T]) -> RunOptions[T]:
    """The options of a ``run_typed`` step with the SDK's default serde: typed by the action's return
    annotation, as the SDK does. Without options of its own (most steps) they depend only on the
    function, so they are made once per function (a copy and a type analysis cost more than a step)."""
    code = getattr(action, "__code__", None)
    if options is DEFAULT_RUN_OPTIONS and code is not None:
        cached = _TYPED_DEFAULTS.get(code)
        if cached is None:
            if len(_TYPED_DEFAULTS) > 4096:
                _TYPED_DEFAULTS.clear()
            cached = _TYPED_DEFAULTS[code] = _typed(action, options)
        return cached
    return _typed(action, options)


def _typed(action: Any, options: RunOptions[T]) -> RunOptions[T]:
    options = copy.copy(options)
    if options.type_hint is None:
        options.type_hint = _return_annotation(action)
    kind, core = extract_core_type(options.type_hint)
    if kind in ("simple", "optional"):
        options.type_hint = core
    options.serde = typing.cast(DefaultSerde[T], options.serde).with_maybe_type(options.type_hint)
    return options


def _serialize(serde: Serde[Any], value: Any, what: str, target: str) -> bytes:
    """Encode a value as the SDK would; a value JSON cannot encode is named with the step."""
    try:
        return serde.serialize(value)
    except (TypeError, ValueError) as exc:
        raise RetryForever(
            f"{target}: {what} got a value of type {type(value).__name__} that cannot be encoded ({exc}). "
            "Restate stores values as JSON: pass dicts, lists, strings, numbers, pydantic models or "
            "dataclasses, or give a serde.",
            "serialization error",
        ) from exc


def _handles(future: Any) -> list[int]:
    if isinstance(future, SingleUnresolvedFuture):
        return [future.handle]
    if isinstance(future, (AllCompletedUnresolvedFuture, FirstCompletedUnresolvedFuture)):
        return [h for child in future.children for h in _handles(child)]
    raise TypeError(f"Unknown future {future!r}")
