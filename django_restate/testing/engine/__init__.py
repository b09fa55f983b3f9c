"""The engine of the mock: it runs invocations, hands results between them, and replays.

It follows Restate's semantics, checked against ``restate-server``:

- an exclusive handler (and a workflow's run) holds its key; a repeated idempotency key or
  workflow id names the first invocation (`engine.admission`);
- calls run the callee in-process and hand its result, or its ``TerminalError`` with
  the status code, back to the caller; sends are queued until the test drains them;
- an invocation that waits for something nobody has completed yet is suspended, and
  resumed by replaying its journal once it is completed (`testing.replay`);
- a retryable error fails the attempt, which is retried per the handler's
  ``invocation_retry_policy`` (``ctx.run`` steps with retry options retry on their own
  and then fail with a ``TerminalError``) (`engine.retries`);
- awakeables and a workflow's promises complete the steps that wait for them (`engine.promises`);
- a test that waits forever is told why (`engine.explain`).

Everything here runs inside one asyncio event loop per test action (a call, a drain,
...): `MockEngine.drive` runs the action, and tasks that are still blocked when it
ends are suspended, so nothing outlives the loop. The handler's context reaches the engine
only through `django_restate.testing.context.ContextEngine`.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Literal, TypeVar

from restate.context import RunOptions
from restate.exceptions import SuspendedException, TerminalError
from restate.serde import Serde

from ...reflect import HandlerSpec, ServiceSpec
from ...registry import NotRegistered, Registry
from ...runtime import terminal_cause
from ...serde import TypedJsonSerde
from .. import store
from ..bridge import run_paused
from ..clock import VirtualClock
from ..context import AttemptFailed, Killed, MockContext, Target
from ..errors import MockRestateError, NestedDrive, RetryForever
from ..faults import Faults
from ..invocation import Invocation
from ..options import DEFAULT_MAX_ATTEMPTS
from ..replay import Entry, Failure, NonDeterminismError, Replay, output_mismatch
from ..scheduler import Scheduler
from .admission import Admission
from .explain import explain
from .promises import Promises
from .retries import RunRetries, backoff, invocation_backoff, invocation_policy

__all__ = ["DEFAULT_MAX_ATTEMPTS", "MockEngine"]

T = TypeVar("T")

#: A drain that keeps finding work after this many rounds is a handler scheduling itself forever.
MAX_ROUNDS = 10_000


class MockEngine:
    def __init__(
        self,
        registry: Registry,
        *,
        replay_check: bool = False,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        clock: VirtualClock | None = None,
    ) -> None:
        self.registry = registry
        self.replay_check = replay_check
        self.max_attempts = max_attempts
        self.clock = clock or VirtualClock()
        self.scheduler = Scheduler()
        self.faults = Faults()
        self.admission = Admission()
        self.promises = Promises(self.complete_entry, self._writes_append)
        #: Invocations whose task ran in the current test action.
        self.live: set[Invocation] = set()
        self._writes: list[Callable[[], None]] = []
        self._errors: list[BaseException] = []
        self._driving = False

    @property
    def invocations(self) -> dict[str, Invocation]:
        return self.admission.invocations

    def now(self) -> float:
        return self.clock.now

    # -- errors that fail the test ----------------------------------------------------

    def fail_test(self, error: BaseException) -> None:
        """Remember an error the test must see even if handler code catches it."""
        if error not in self._errors:
            self._errors.append(error)

    # -- entry points: one event loop per test action ----------------------------------

    async def drive(self, body: Callable[[], Awaitable[T]]) -> T:
        """Run one test action; suspend what is still blocked, write to the database, and raise
        the first error a handler caused."""
        if self._driving:
            raise NestedDrive()
        self._driving = True
        failure: BaseException | None = None
        try:
            with self.scheduler.session():
                try:
                    result = await body()
                    await self.scheduler.settle()
                except Exception as exc:
                    failure = exc
                finally:
                    try:
                        await self._suspend_all()
                    finally:
                        await self.flush()
        finally:
            self._driving = False
        if self._errors:
            first, self._errors = self._errors[0], []
            raise first
        if failure is not None:
            raise failure
        return result

    async def settle_until(
        self, done: Callable[[], bool], *, advance_clock: bool, run_sends: bool | Literal["when stuck"]
    ) -> bool:
        """Let everything run; when nothing can, start due sends and fire timers, until ``done()``.

        ``run_sends="when stuck"`` (a call from the test) leaves sends queued unless the call could
        not finish otherwise: it attaches to one, or waits for something a sent handler does."""
        for _ in range(MAX_ROUNDS):
            await self.scheduler.settle()
            if done() or self._errors:
                return done()
            if run_sends is True and self._start_due_sends():
                continue
            if advance_clock and self.clock.fire_next():
                continue
            if run_sends == "when stuck" and self._start_due_sends():
                continue
            return done()
        raise MockRestateError(
            f"The mock still had work after {MAX_ROUNDS} rounds: a handler keeps scheduling more "
            "(for example a delayed send to itself). Drain with advance_clock=False, or advance() step by step."
        )

    def _start_due_sends(self) -> bool:
        due = self.admission.take_due(self.clock.now)
        for inv in due:
            self.submit(inv)
        return bool(due)

    async def _suspend_all(self) -> None:
        """Stop every task still blocked at the end of a test action: it resumes by replay later."""
        for _ in range(10):
            live = [inv for inv in self.live if inv.task is not None and not inv.task.done()]
            if not live:
                self.live.clear()
                return
            for inv in live:
                for entry in list(inv.blocked):
                    entry.wake(SuspendedException())
            await asyncio.wait([inv.task for inv in live if inv.task is not None], timeout=0.5)
        for inv in self.live:  # handler code that swallowed SuspendedException
            if inv.task is not None and not inv.task.done():
                inv.task.cancel()
        self.live.clear()

    def explain(self, inv: Invocation) -> str:
        """Why ``inv`` cannot finish, following what it waits for."""
        return explain(inv, self.admission)

    # -- admitting and running invocations ---------------------------------------------

    def submit(self, inv: Invocation) -> None:
        """Start an invocation, or queue it behind the one that holds its key."""
        if self.admission.acquire(inv):
            self._start(inv)

    def run_now(self, inv: Invocation) -> None:
        """Start a queued send at once (the test called it with the idempotency key it was sent with)."""
        if self.admission.unqueue(inv):
            self.submit(inv)

    def _start(self, inv: Invocation) -> None:
        inv.status = "running"
        inv.task = asyncio.get_running_loop().create_task(self._attempt(inv), name=inv.target)
        self.live.add(inv)

    def _resume(self, inv: Invocation) -> None:
        if inv.status == "suspended":
            self._start(inv)

    def complete_entry(self, owner: Invocation, entry: Entry, result: bytes | Failure | None) -> None:
        """Complete a step of ``owner`` from outside it, resuming ``owner`` if it was suspended."""
        if entry.complete(result):
            self._resume(owner)

    def context(self, inv: Invocation, kind: str | None = None) -> MockContext:
        """A context for a new attempt of ``inv``: it replays the journal from the start."""
        inv.replay = Replay(inv.journal, inv.target, verify=inv.verify, report=self.fail_test)
        return MockContext(self, inv, kind or inv.handler_kind)

    async def _attempt(self, inv: Invocation) -> None:
        inv.attempts += 1
        result = await self._execute(inv, self.context(inv))
        if result is None:
            return
        if self.replay_check and not inv.killed:
            await self._verify(inv, result)
        self.finish(inv, result)
        inv.task = None

    async def _execute(self, inv: Invocation, ctx: MockContext) -> bytes | Failure | None:
        """One attempt of the handler; None when it did not end (suspended, retried, stuck)."""
        try:
            if not inv.verify:
                await self._load(inv)
            method = getattr(inv.spec.cls(), inv.handler.attr)
            input_serde, output_serde = inv.handler.serdes
            if inv.handler.takes_input:
                value = await method(ctx, _decode_input(input_serde, inv.input))
            else:
                value = await method(ctx)
            inv.replay.check_fully_replayed()
            return bytes(output_serde.serialize(value))
        except SuspendedException:
            inv.status = "suspended"
            inv.waited_on = list(inv.blocked) or inv.waited_on
            return None
        except Killed:
            inv.killed = True
            return Failure(409, "killed")
        except AttemptFailed as failed:
            self._retry(inv, failed.error)
            return None
        except (MockRestateError, NonDeterminismError) as error:
            self.fail_test(error)
            inv.status = "paused"
            return None
        except Exception as error:
            terminal = terminal_cause(error)
            if terminal is not None:
                return Failure(terminal.status_code, terminal.message)
            if inv.verify:
                raise
            self._retry(inv, error)
            return None
        finally:
            ctx.attempt_finished.set()

    async def _load(self, inv: Invocation) -> None:
        """Load the state (and a workflow's promises) the attempt reads, after pending writes.

        In a synchronous test an invocation that holds its key reads its state when it first uses it
        instead (:meth:`state_of`): nobody else writes that state meanwhile, so it reads the same
        rows, and a handler that never touches its state costs no query."""
        writes, self._writes = self._writes, []
        reads_state = inv.handler_kind != "service"
        if reads_state and self.scheduler.inline is not None and inv.lock_key is not None:
            reads_state = False
        promises = inv.spec.kind == "workflow" and not self.promises.loaded(inv.spec.name, inv.key)
        inv.state = None
        if not writes and not reads_state and not promises:
            return
        state, loaded = await self.scheduler.run_sync(
            _write_then_read, writes, inv.spec.name, inv.key, reads_state, promises
        )
        inv.state = state
        if promises:
            self.promises.merge(inv.spec.name, inv.key, loaded)

    async def _verify(self, inv: Invocation, recorded: bytes | Failure) -> None:
        """The replay check: run the handler again against its journal; it must make the same steps
        and return the same result."""
        inv.verify = True
        try:
            replayed = await self._execute(inv, self.context(inv))
        except Exception as error:
            replayed = Failure(500, repr(error))
        finally:
            inv.verify = False
        if replayed is not None and replayed != recorded:
            self.fail_test(
                NonDeterminismError(output_mismatch(inv.target, inv.journal, _text(recorded), _text(replayed)))
            )

    def finish(self, inv: Invocation, output: bytes | Failure) -> None:
        """Record the outcome, hand the key to the next invocation in its inbox, notify waiters."""
        inv.output = output
        inv.done = True
        inv.status = "completed"
        inv.state = None  # a test may make thousands of calls: keep the record, not the machinery
        following = self.admission.release(inv)
        if following is not None:
            self._start(following)
        callbacks, inv.on_done = inv.on_done, []
        for callback in callbacks:
            callback(inv)

    def when_done(self, inv: Invocation, callback: Callable[[Invocation], None]) -> None:
        if inv.done:
            callback(inv)
        else:
            inv.on_done.append(callback)

    def _retry(self, inv: Invocation, error: BaseException) -> None:
        """A retryable failure: back off and try again per the invocation retry policy."""
        inv.last_error = error
        policy = invocation_policy(inv)
        limit = getattr(policy, "max_attempts", None)
        if limit is not None and inv.attempts >= limit:
            if getattr(policy, "on_max_attempts", None) == "kill":
                self.finish(inv, Failure(500, repr(error)))
            else:
                inv.status = "paused"
            return
        inv.status = "backing-off"
        if limit is None and inv.attempts >= self.max_attempts:
            failure = RetryForever(
                f"{inv.target} failed {inv.attempts} times with {error!r}; the mock stops here.",
                "set invocation_retry_policy on the handler to bound the retries",
            )
            failure.__cause__ = error
            self.fail_test(failure)
            return
        delay = backoff(invocation_backoff(policy), inv.attempts)
        self.clock.call_later(delay, lambda: self._start(inv), f"retry {inv.target}")

    # -- waiting ------------------------------------------------------------------------

    async def block(self, inv: Invocation, entry: Entry) -> None:
        """Wait until ``entry`` completes (or a cancellation, suspension or kill arrives)."""
        if inv.verify:
            inv.replay.diverged(entry.index, f"awaits {entry.describe()}, which the recorded run never saw completed")
        if inv.cancel_requested and not inv.cancel_delivered:
            inv.cancel_delivered = True
            entry.cancelled_here = True
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry.waiters.append(waiter)
        inv.blocked.append(entry)
        inv.waited_on = [entry]
        try:
            await waiter
        finally:
            inv.blocked.remove(entry)

    async def block_any(self, inv: Invocation, entries: list[Entry]) -> None:
        if any(e.completed or e.cancelled_here for e in entries):
            return
        if inv.verify or (inv.cancel_requested and not inv.cancel_delivered):
            await self.block(inv, entries[0])
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        for entry in entries:
            entry.waiters.append(waiter)
            inv.blocked.append(entry)
        inv.waited_on = list(entries)
        try:
            await waiter
        finally:
            for entry in entries:
                inv.blocked.remove(entry)
                if waiter in entry.waiters:
                    entry.waiters.remove(waiter)

    def kill_now(self, inv: Invocation, step: int) -> bool:
        return self.faults.kill_now(inv.spec.name, inv.handler.name, step)

    # -- state ----------------------------------------------------------------------------

    def state_of(self, inv: Invocation) -> dict[str, bytes]:
        """The state ``inv``'s attempt reads: loaded at its start, or now (after pending writes) in a
        synchronous test, where this thread owns the connection and may query right away."""
        if inv.state is None:
            if inv.handler_kind == "service" or self.scheduler.inline is None:
                inv.state = {}
            else:
                writes, self._writes = self._writes, []
                loaded, _ = run_paused(_write_then_read, writes, inv.spec.name, inv.key, True, False)
                inv.state = loaded or {}
        return inv.state

    def write_state(self, inv: Invocation, write: store.StateWrite) -> None:
        state = self.state_of(inv)
        op, name, value = write
        if op == "set":
            assert value is not None
            state[name] = value
        elif op == "clear":
            state.pop(name, None)
        else:
            state.clear()
        service, key = inv.spec.name, inv.key
        self._writes.append(lambda: store.apply_writes(service, key, [write]))

    def _writes_append(self, write: Callable[[], None]) -> None:
        self._writes.append(write)

    async def flush(self, inv: Invocation | None = None) -> None:
        """Write what handlers changed to the database (before anyone else can read it)."""
        if self._writes:
            writes, self._writes = self._writes, []
            await self.scheduler.run_sync(_apply, writes)

    # -- ctx.run ----------------------------------------------------------------------------

    async def execute_run(
        self, inv: Invocation, entry: Entry, action: Callable[[], Any], serde: Serde[Any], options: RunOptions[Any]
    ) -> None:
        """Run a ``ctx.run`` action, retrying it per its options; a failure with retry options
        becomes a TerminalError(500, repr(error)), without them it fails the whole attempt."""
        retries = RunRetries.of(options)
        elapsed, attempt = 0.0, 0
        while True:
            attempt += 1
            await self.flush()
            injected = self.faults.run_failure(inv.spec.name, inv.handler.name, entry.name)
            try:
                if injected is not None:
                    raise injected
                if inspect.iscoroutinefunction(_unwrap(action)):
                    with self.scheduler.working():
                        value = await action()
                else:
                    value = await self.scheduler.run_sync(action)
                buffer = bytes(serde.serialize(value))
            except TerminalError as error:
                entry.complete(Failure(error.status_code, error.message))
                return
            except Exception as error:
                if retries is None:
                    raise AttemptFailed(error) from error
                if retries.exhausted(attempt, elapsed):
                    entry.complete(Failure(500, repr(error)))
                    return
                elapsed += backoff(retries.backoff, attempt)
                continue
            entry.complete(buffer)
            return

    def schedule_sleep(self, inv: Invocation, entry: Entry, seconds: float) -> None:
        self.clock.call_later(seconds, lambda: self.complete_entry(inv, entry, None), f"{inv.target} sleep")

    # -- calls, sends, attach, cancel, kill -------------------------------------------------

    def resolve_method(self, tpe: Any, how: str, caller: Invocation) -> tuple[Target, Serde[Any], Serde[Any]]:
        """The handler that ``ctx.object_call(Cart.add_item, ...)`` names, by the rule the endpoint
        exposes it with (`Registry.for_method`)."""
        try:
            target = self.registry.for_method(tpe)
        except LookupError as exc:
            name = getattr(tpe, "__qualname__", repr(tpe))
            error = RetryForever(
                f"{caller.target} called {how}({name}, ...), but {exc} The SDK raises "
                "ValueError('Handler not found'); call it by name with ctx.generic_call(service, handler, "
                "payload, key=...).",
            )
            self.fail_test(error)
            raise error from None
        return target, *target[1].serdes

    def resolve_name(self, service: str, handler: str, caller: Invocation) -> Target:
        try:
            spec = self.registry.get(service)
            return spec, spec.handler(handler)
        except (NotRegistered, LookupError):
            known = ", ".join(f"{s.name}/{h.name}" for s in self.registry for h in s.handlers) or "none"
            error = RetryForever(
                f"{caller.target} called {service}/{handler}, which is not registered: the server answers "
                f'"the service handler {service}/{handler} was not found". Registered handlers: {known}.',
                "RT0018",
            )
            self.fail_test(error)
            raise error from None

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
    ) -> None:
        callee, new = self.admission.admit(
            spec, handler, key, buffer, headers=headers, idempotency_key=idempotency_key, caller=caller
        )
        entry.detail["invocation_id"] = callee.id
        if not new and handler.kind == "workflow" and callee.done:
            entry.complete(Failure(409, "the workflow method was already invoked"))
            return
        self.when_done(callee, lambda done: self.complete_entry(caller, entry, done.output))
        if new:
            self.submit(callee)

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
    ) -> str:
        inv, new = self.admission.admit(spec, handler, key, buffer, headers=headers, idempotency_key=idempotency_key)
        if new:
            inv.caller = caller
            self.admission.queue(inv, self.clock.now + delay)
            if delay > 0:  # so that draining with time moves the clock to it
                self.clock.call_at(inv.due_at, lambda: None, f"send {inv.target}")
        return inv.id

    def attach_from(self, caller: Invocation, entry: Entry, invocation_id: str) -> None:
        target = self.invocations.get(invocation_id)
        if target is None:
            entry.complete(Failure(404, f"invocation {invocation_id} not found"))
            return
        self.when_done(target, lambda done: self.complete_entry(caller, entry, done.output))

    def cancel(self, invocation_id: str) -> None:
        """Cancel an invocation: its current or next await raises TerminalError("cancelled", 409),
        so it can still run compensations; one that has not started completes at once."""
        inv = self.invocations.get(invocation_id)
        if inv is None or inv.done:
            return
        inv.cancel_requested = True
        if self.admission.unqueue(inv):  # on a server it would be running by now: it starts, and sees it
            self.submit(inv)
            return
        if inv.blocked:
            inv.cancel_delivered = True
            entry = inv.blocked[0]
            entry.cancelled_here = True
            entry.wake()
        elif inv.status == "suspended":
            self._resume(inv)

    def kill(self, invocation_id: str) -> None:
        """Kill an invocation: it stops where it is, without compensation; callers get 409 killed."""
        inv = self.invocations.get(invocation_id)
        if inv is None or inv.done:
            return
        if inv.task is not None and not inv.task.done() and inv.blocked:
            for entry in list(inv.blocked):
                entry.wake(Killed())
            return
        self.admission.withdraw(inv)
        self.finish(inv, Failure(409, "killed"))

    # -- awakeables and workflow promises ---------------------------------------------------

    def new_awakeable(self, inv: Invocation, entry: Entry) -> str:
        return self.promises.new_awakeable(inv, entry)

    def complete_awakeable(self, awakeable_id: str, result: bytes | Failure) -> bool:
        return self.promises.complete_awakeable(awakeable_id, result)

    def await_promise(self, inv: Invocation, entry: Entry, name: str) -> None:
        self.promises.await_promise(inv, entry, name)

    def peek_promise(self, inv: Invocation, entry: Entry, name: str) -> None:
        self.promises.peek_promise(inv, entry, name)

    def complete_promise_from(self, inv: Invocation, entry: Entry, name: str, result: bytes | Failure) -> None:
        self.promises.complete_promise_from(inv, entry, name, result)

    async def load_promises(self, workflow: str, key: str) -> None:
        """Read a workflow's promises from the database (after pending writes), once."""
        if not self.promises.loaded(workflow, key):
            _, loaded = await self.scheduler.run_sync(_write_then_read, [], workflow, key, False, True)
            self.promises.merge(workflow, key, loaded)


def _decode_input(serde: Serde[Any], buffer: bytes) -> Any:
    if isinstance(serde, TypedJsonSerde):
        return serde.deserialize(buffer)  # a TerminalError 400 for bad input, as the endpoint answers
    try:
        return serde.deserialize(buffer)
    except Exception as exc:  # the SDK's own wording for a user serde that fails
        raise TerminalError(f"Unable to parse an input argument. {exc}") from exc


def _write_then_read(
    writes: Iterable[Callable[[], None]], service: str, key: str, state: bool, promises: bool
) -> tuple[dict[str, bytes] | None, dict[str, bytes | Failure]]:
    _apply(writes)
    loaded_state = store.load_state(service, key) if state else None
    loaded_promises = store.load_promises(service, key) if promises else {}
    return loaded_state, loaded_promises


def _apply(writes: Iterable[Callable[[], None]]) -> None:
    for write in writes:
        write()


def _unwrap(action: Any) -> Any:
    while hasattr(action, "func"):  # functools.partial
        action = action.func
    return action


def _text(result: bytes | Failure) -> str:
    if isinstance(result, Failure):
        return f"failure [{result.code}] {result.message}"
    return result.decode("utf-8", "replace") or "(empty)"
