"""Backpressure: under overload, invocations already running here finish before new ones are sent.

A Django process that serves both the views that start work (``client.send(...)``) and the
endpoint that runs it shares its CPU between the two. Flat out, a send is cheap and a step is
not, so each new send lets one more invocation in, and every running invocation's steps wait
longer behind the others: latency grows with what was let in, not with the work.

With ``RESTATE["BACKPRESSURE"] = N``, a send (without a delay) made in a process with ``N`` or
more invocations in flight waits until one finishes, at most ``RESTATE["BACKPRESSURE_TIMEOUT"]``
seconds, then is sent anyway: nothing is refused or lost. In flight are the attempts its endpoint
runs and the invocations its sends started that have not reached the endpoint yet: counting only
the first would let a burst of sends through in the moment between a send and its invocation's
start. A send made inside an invocation (from a step) never waits: the attempt it would wait for
may be its own. Each attempt that finishes lets exactly one waiting send go, in the order they
came, so what is running stays near ``N`` however many views are sending; a send first in line
that finds room goes without one (what went before it may run on another replica).

It counts what runs in this process only: a sent invocation that has not started here within
:data:`LATE_FACTOR` times as long as this process's own took on average (at most
:data:`EXPECT_FOR` seconds) most likely runs elsewhere (another replica, another deployment) and
stops counting; the sent ones count only at the share of this process's that started here lately
(:data:`AVERAGE_WEIGHT`); and a process whose endpoint has run no attempt counts no sends. Calls
(``client.call``) and the outbox relay's sends are not held back: a call waits for its answer
anyway, and the relay sends what was already committed.
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

#: Seconds a sent invocation is looked for among those that start here; one that has not started by
#: then runs elsewhere (another replica, another deployment).
EXPECT_FOR = 0.5

#: It counts as in flight for this many times as long as this process's own sent invocations take,
#: on average, to start here once the ingress answered (at least :data:`EXPECT_AT_LEAST` seconds,
#: at most :data:`EXPECT_FOR`): later than that it most likely runs elsewhere, and a place it held
#: for the whole of EXPECT_FOR would be lost to this process's own work.
LATE_FACTOR = 8
EXPECT_AT_LEAST = 0.05

#: The weight of each new sent invocation in that average, and in the share of them that start here
#: (each one that starts here, or is dropped after EXPECT_FOR without having started): the
#: not-started ones count only at that share, so a process whose sends mostly run elsewhere soon
#: stops holding them back.
AVERAGE_WEIGHT = 0.1

#: Seconds between a waiting send's looks at whether it is first in line with room to go, for when
#: no attempt finishes here to wake it.
LOOK_AGAIN = 0.05


class _Waiter:
    """A send waiting for its turn, woken from whichever thread finishes an attempt."""

    __slots__ = ("_event", "_future", "_loop", "turn")

    def __init__(self, loop: asyncio.AbstractEventLoop | None) -> None:
        #: Its turn, handed over with the room it takes when it is let go.
        self.turn: Turn | None = None
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


class Turn:
    """A send let go by :meth:`Backpressure.wait_turn`: counted as in flight here until the ingress
    names the invocation it started, then until that invocation starts here (or is late: it runs
    elsewhere, see :data:`LATE_FACTOR`). Use it as a context manager around the send, and
    hand it the ingress's answer with :meth:`sent`; a send that raises stops counting."""

    __slots__ = ("_gate", "waited")

    def __init__(self, gate: Backpressure | None, waited: float = 0.0) -> None:
        # The gate it counts in until it is answered or cancelled; None once it no longer does.
        self._gate = gate
        #: Seconds the send waited for its turn.
        self.waited = waited

    def sent(self, invocation_id: str, status: str | None) -> None:
        """The ingress accepted the send: expect ``invocation_id`` to start here, unless it names an
        invocation that already existed (``"PreviouslyAccepted"``: nothing new will start)."""
        self._close(invocation_id if status != "PreviouslyAccepted" else None)

    def cancel(self) -> None:
        """Nothing was sent (or nothing the ingress answered): stop counting it."""
        self._close(None)

    def _close(self, invocation_id: str | None) -> None:
        gate, self._gate = self._gate, None
        if gate is not None:
            gate._answered(invocation_id)

    def __enter__(self) -> Turn:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.cancel()  # without an answer by now the send raised: it started nothing


#: The turn of a send that is not counted: backpressure is off, or the send never waits.
UNCOUNTED = Turn(None)


class Backpressure:
    """The invocations in flight in this process, and the sends waiting for one to finish.

    In flight: the attempts its endpoint runs, the sends let go that the ingress has not answered
    yet, and those it answered whose invocation has not started here yet and is not late
    (:data:`LATE_FACTOR`).
    The sends are counted only once this process's endpoint has run an attempt: a process that
    serves only views has nothing of its own to protect.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = 0
        self._sending = 0
        # Invocation id -> when its send was answered; in the order they were.
        self._expected: dict[str, float] = {}
        # The average seconds from a send's answer to its invocation's start here; None before one.
        self._to_start: float | None = None
        # The share of this process's sent invocations that started here, lately.
        self._here = 1.0
        # Attempts that started while sends were unanswered: their send's answer may come after.
        self._arrived: dict[str, float] = {}
        self._serves = False
        self._waiting: deque[_Waiter] = deque()

    @property
    def running(self) -> int:
        return self._running

    @property
    def in_flight(self) -> float:
        """Attempts running here, plus sends let go whose invocations have not started here yet (and
        are not late), these at the share of this process's sent invocations that start here."""
        with self._lock:
            return self._in_flight()

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def started(self, invocation_id: str | None = None) -> None:
        with self._lock:
            self._running += 1
            self._serves = True
            if invocation_id is None:
                return
            answered = self._expected.pop(invocation_id, None)
            if answered is not None:
                self._took(time.monotonic() - answered)
            elif self._sending:
                self._arrived[invocation_id] = time.monotonic()

    def finished(self) -> None:
        with self._lock:
            self._running -= 1
            woken = self._next_with_room()
        if woken is not None:
            woken.wake()

    def _answered(self, invocation_id: str | None) -> None:
        """A counted send's answer: the invocation to expect, or ``None`` when it started nothing
        new here to wait for."""
        with self._lock:
            self._sending -= 1
            if invocation_id is not None:
                if self._arrived.pop(invocation_id, None) is None:
                    self._expected[invocation_id] = time.monotonic()
                    return  # as many in flight as before
                self._took(0.0)  # it started before the answer came
            woken = self._next_with_room()
        if woken is not None:
            woken.wake()

    def _took(self, seconds: float) -> None:
        """One of this process's sent invocations started here ``seconds`` after the answer."""
        self._here += AVERAGE_WEIGHT * (1.0 - self._here)
        average = self._to_start
        self._to_start = seconds if average is None else average + AVERAGE_WEIGHT * (seconds - average)

    def _counted_for(self) -> float:
        """Seconds an answered send counts as in flight while it has not started here."""
        if self._to_start is None:
            return EXPECT_FOR
        return min(EXPECT_FOR, max(EXPECT_AT_LEAST, LATE_FACTOR * self._to_start))

    def _in_flight(self) -> float:
        """What :attr:`in_flight` says, once what is too old to expect is forgotten (under the lock)."""
        now = time.monotonic()
        self._forget(now)
        since = now - self._counted_for()
        expected = 0
        for answered in reversed(self._expected.values()):  # the newest first
            if answered < since:
                break
            expected += 1
        return self._running + self._sending + self._here * expected

    def _forget(self, now: float) -> None:
        """Drop the expected invocations that have not started here in time, and the early arrivals
        no answer came for."""
        for pending in (self._expected, self._arrived):
            while pending:
                oldest = next(iter(pending))
                if now - pending[oldest] < EXPECT_FOR:
                    break
                del pending[oldest]
                if pending is self._expected:  # it ran elsewhere
                    self._here -= AVERAGE_WEIGHT * self._here

    def _has_room(self, limit: int | None) -> bool:
        return limit is None or self._in_flight() < limit

    def _next_with_room(self) -> _Waiter | None:
        """Let the first waiting send go if there is room for it (under the lock)."""
        if self._waiting and self._has_room(_limit()):
            return self._let_go(self._waiting.popleft())
        return None

    def _let_go(self, waiter: _Waiter) -> _Waiter:
        """Hand ``waiter``, off the queue, its turn: from now on it counts (under the lock)."""
        waiter.turn = self._turn()
        return waiter

    def _turn(self) -> Turn:
        """The turn of a send that goes now (under the lock)."""
        if not self._serves:
            return Turn(None)
        self._sending += 1
        return Turn(self)

    def _enqueue(self, loop: asyncio.AbstractEventLoop | None) -> Turn | _Waiter:
        """The turn if this send may go now (nothing waits before it and there is room), otherwise
        a waiter in the queue."""
        limit = _limit()
        if limit is None or current_invocation() is not None:
            return UNCOUNTED
        with self._lock:
            if not self._waiting and self._has_room(limit):
                return self._turn()
            waiter = _Waiter(loop)
            self._waiting.append(waiter)
            return waiter

    def _first_with_room(self, waiter: _Waiter) -> bool:
        """Let ``waiter`` go if it is first and there is room: what the sends let go before it ran
        elsewhere (another replica), so no finish here will wake it."""
        with self._lock:
            if self._waiting and self._waiting[0] is waiter and self._has_room(_limit()):
                self._let_go(self._waiting.popleft())
                return True
            return False

    def _leave(self, waiter: _Waiter, began: float) -> Turn:
        """``waiter``'s turn: the one it was handed, or (timed out, or cancelled) one it takes now,
        off the queue, without room."""
        with self._lock:
            if waiter.turn is None:
                self._waiting.remove(waiter)
                self._let_go(waiter)
        assert waiter.turn is not None
        waiter.turn.waited = time.monotonic() - began
        return waiter.turn

    def wait_turn(self) -> Turn:
        """Block until this send may go (or the timeout)."""
        waiter = self._enqueue(None)
        if isinstance(waiter, Turn):
            return waiter
        began = time.monotonic()
        deadline = began + _timeout()
        try:
            while not waiter.wait(min(LOOK_AGAIN, max(0.0, deadline - time.monotonic()))):
                if self._first_with_room(waiter) or time.monotonic() >= deadline:
                    break
        except BaseException:
            self._leave(waiter, began).cancel()
            raise
        return self._leave(waiter, began)

    async def await_turn(self) -> Turn:
        """The async twin of :meth:`wait_turn`."""
        waiter = self._enqueue(asyncio.get_running_loop())
        if isinstance(waiter, Turn):
            return waiter
        began = time.monotonic()
        deadline = began + _timeout()
        try:
            while not await waiter.await_turn(min(LOOK_AGAIN, max(0.0, deadline - time.monotonic()))):
                if self._first_with_room(waiter) or time.monotonic() >= deadline:
                    break
        except BaseException:  # cancelled
            self._leave(waiter, began).cancel()
            raise
        return self._leave(waiter, began)


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
    invocation = current_invocation()
    backpressure.started(invocation.request().id if invocation is not None else None)
    try:
        yield
    finally:
        backpressure.finished()
