"""Backpressure: under overload, invocations already running here finish before new ones are sent.

A Django process that serves both the views that start work (``client.send(...)``) and the
endpoint that runs it shares its CPU between the two. Flat out, a send is cheap and a step is
not, so each new send lets one more invocation in, and every running invocation's steps wait
longer behind the others: latency grows with what was let in, not with the work.

With ``RESTATE["BACKPRESSURE"] = N``, a send (without a delay) made in a process whose endpoint
is running ``N`` or more invocation attempts waits until one finishes, at most
``RESTATE["BACKPRESSURE_TIMEOUT"]`` seconds, then is sent anyway: nothing is refused or lost. A
send made inside an invocation (from a step) never waits: the attempt it would wait for may be its
own. Each attempt that finishes lets exactly one waiting send go, in the order they came, so what
is running stays near ``N`` however many views are sending; a send first in line that finds room
goes without one (what went before it may run on another replica).

It counts what runs in this process only: sends whose invocations run on other replicas, or on a
deployment elsewhere, pass as long as this process is not busy. Calls (``client.call``) and the
outbox relay's sends are not held back: a call waits for its answer anyway, and the relay sends
what was already committed.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from .conf import restate_settings
from .log import current_invocation

#: Seconds between a waiting send's looks at whether it is first in line with room to go, for when
#: no attempt finishes here to wake it.
LOOK_AGAIN = 0.05


class _Waiter:
    """A send waiting for its turn, woken from whichever thread finishes an attempt."""

    __slots__ = ("_event", "_future", "_loop")

    def __init__(self, loop: asyncio.AbstractEventLoop | None) -> None:
        self._loop = loop
        self._future: asyncio.Future[None] | None = loop.create_future() if loop is not None else None
        self._event = threading.Event() if loop is None else None

    def wake(self) -> None:
        if self._event is not None:
            self._event.set()
        elif self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._resolve)

    def _resolve(self) -> None:
        if self._future is not None and not self._future.done():
            self._future.set_result(None)

    def wait(self, timeout: float) -> bool:
        """Whether it was woken within ``timeout`` seconds."""
        assert self._event is not None
        return self._event.wait(timeout)

    async def await_turn(self, timeout: float) -> bool:
        assert self._future is not None
        with suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._future), timeout)
        return self._future.done()


class Backpressure:
    """The attempts running in this process's endpoint, and the sends waiting for one to finish."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = 0
        self._waiting: deque[_Waiter] = deque()

    @property
    def running(self) -> int:
        return self._running

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def started(self) -> None:
        with self._lock:
            self._running += 1

    def finished(self) -> None:
        limit = _limit()
        with self._lock:
            self._running -= 1
            woken = self._waiting.popleft() if self._waiting and (limit is None or self._running < limit) else None
        if woken is not None:
            woken.wake()

    def _enqueue(self, loop: asyncio.AbstractEventLoop | None) -> _Waiter | None:
        """A waiter if this send must wait; ``None`` if it may go now: nothing waits before it and
        fewer than the limit run."""
        limit = _limit()
        if limit is None or current_invocation() is not None:
            return None
        with self._lock:
            if not self._waiting and self._running < limit:
                return None
            waiter = _Waiter(loop)
            self._waiting.append(waiter)
            return waiter

    def _first_with_room(self, waiter: _Waiter) -> bool:
        """Take ``waiter`` off the queue if it is first and fewer than the limit run: what the sends
        let go before it started elsewhere (another replica), so no finish here will wake it."""
        limit = _limit()
        with self._lock:
            if self._waiting and self._waiting[0] is waiter and (limit is None or self._running < limit):
                self._waiting.popleft()
                return True
            return False

    def _give_up(self, waiter: _Waiter) -> None:
        with self._lock, suppress(ValueError):  # woken meanwhile
            self._waiting.remove(waiter)

    def wait_turn(self) -> float:
        """Block until this send may go (or the timeout); the seconds it waited."""
        waiter = self._enqueue(None)
        if waiter is None:
            return 0.0
        began = time.monotonic()
        deadline = began + _timeout()
        try:
            while not waiter.wait(min(LOOK_AGAIN, max(0.0, deadline - time.monotonic()))):
                if self._first_with_room(waiter) or time.monotonic() >= deadline:
                    break
        finally:
            self._give_up(waiter)
        return time.monotonic() - began

    async def await_turn(self) -> float:
        """The async twin of :meth:`wait_turn`."""
        waiter = self._enqueue(asyncio.get_running_loop())
        if waiter is None:
            return 0.0
        began = time.monotonic()
        deadline = began + _timeout()
        try:
            while not await waiter.await_turn(min(LOOK_AGAIN, max(0.0, deadline - time.monotonic()))):
                if self._first_with_room(waiter) or time.monotonic() >= deadline:
                    break
        finally:
            self._give_up(waiter)
        return time.monotonic() - began


def _limit() -> int | None:
    limit: int | None = restate_settings.BACKPRESSURE
    return limit


def _timeout() -> float:
    return float(restate_settings.BACKPRESSURE_TIMEOUT)


#: This process's: every endpoint in it counts into the same one (a process has one CPU budget).
backpressure = Backpressure()


@asynccontextmanager
async def counted_attempt() -> AsyncIterator[None]:
    """Count one invocation attempt as running in this process while it runs."""
    backpressure.started()
    try:
        yield
    finally:
        backpressure.finished()
