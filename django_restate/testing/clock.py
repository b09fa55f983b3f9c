"""Virtual time: ``ctx.sleep``, delayed sends and retry back-offs move it; nothing really waits."""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(order=True)
class Timer:
    when: float
    seq: int
    callback: Callable[[], None] = field(compare=False)
    what: str = field(compare=False, default="")
    cancelled: bool = field(compare=False, default=False)

    def cancel(self) -> None:
        self.cancelled = True


#: A timer fires this long after it is due, as on a real server, where a sleep of 50 ms always
#: measures at least 50 ms. Without it ``ctx.time()`` differences would land a float rounding
#: error short of the sleep's duration half of the time.
TIMER_LATENCY = 0.001


class VirtualClock:
    """A clock that only moves when the mock moves it, so a week-long sleep takes no time."""

    def __init__(self, start: float | None = None) -> None:
        #: Seconds since the epoch, as ``time.time()`` would say in the handlers' world.
        self.now = time.time() if start is None else start
        self._timers: list[Timer] = []
        self._seq = itertools.count()

    def call_at(self, when: float, callback: Callable[[], None], what: str = "") -> Timer:
        timer = Timer(when, next(self._seq), callback, what)
        heapq.heappush(self._timers, timer)
        return timer

    def call_later(self, seconds: float, callback: Callable[[], None], what: str = "") -> Timer:
        return self.call_at(self.now + max(seconds, 0.0), callback, what)

    def _prune(self) -> None:
        while self._timers and self._timers[0].cancelled:
            heapq.heappop(self._timers)

    def next_due(self) -> float | None:
        self._prune()
        return self._timers[0].when if self._timers else None

    def fire_next(self, until: float | None = None) -> bool:
        """Move to the earliest timer (not beyond ``until``) and run it; False when there is none."""
        self._prune()
        if not self._timers or (until is not None and self._timers[0].when > until):
            return False
        timer = heapq.heappop(self._timers)
        self.now = max(self.now, timer.when + TIMER_LATENCY)
        timer.callback()
        return True

    def pending(self) -> list[Timer]:
        self._prune()
        return sorted(t for t in self._timers if not t.cancelled)
