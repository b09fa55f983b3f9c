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

`MockEngine` is put together from one module per idea: `engine.core` (what it holds),
`engine.attempts` (running an invocation), `engine.state` (state and the database),
`engine.steps` (``ctx.run`` and sleeps), `engine.calls` (between invocations) and
`engine.waiting`; this module runs one test action.

Everything here runs inside one asyncio event loop per test action (a call, a drain,
...): `MockEngine.drive` runs the action, and tasks that are still blocked when it
ends are suspended, so nothing outlives the loop. The handler's context reaches the engine
only through `django_restate.testing.context.ContextEngine`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Literal, TypeVar

from restate.exceptions import SuspendedException

from ..errors import MockRestateError, NestedDrive
from ..options import DEFAULT_MAX_ATTEMPTS
from .calls import Calls
from .steps import RunSteps
from .waiting import Waiting

__all__ = ["DEFAULT_MAX_ATTEMPTS", "MockEngine"]

T = TypeVar("T")

#: A drain that keeps finding work after this many rounds is a handler scheduling itself forever.
MAX_ROUNDS = 10_000


class MockEngine(RunSteps, Calls, Waiting):
    """The mock's engine: one test action at a time (:meth:`drive`), made of the parts in this package."""

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
