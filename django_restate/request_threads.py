"""Django's per-request threads, reused instead of started and joined for every request.

Django's ASGI handler runs each request inside asgiref's ``ThreadSensitiveContext``: the
request's thread-sensitive sync code (the ``request_started`` / ``request_finished`` receivers
that tidy database connections, sync middleware, sync views, the async ORM) runs in a thread of
its own. Without an executor, that context starts a new thread for each request and, when the
request ends, a second one to join the first; ``Thread.start`` blocks the event loop until the new
thread runs, which under load is milliseconds per request in which nothing else on the loop moves
(a fifth of the loop's time in ``bench/workflow_bench.py``'s profile).

:class:`RequestThreads` keeps the one-thread-per-request rule and only changes where the thread
comes from: each request gets a single-thread executor of its own for as long as it runs, taken
from a pool of idle ones, and gives it back when it ends. Django's inner ``ThreadSensitiveContext``
then finds the context already set and uses that thread. A request that ends in an error or is
cancelled (the client went away) may leave a call running in its thread; that executor is shut
down instead of reused, as Django would.

The threads' database connections are tidied as Django tidies them, at each request's start and
finish (``close_old_connections`` runs in the request's thread), so with ``CONN_MAX_AGE > 0`` a
reused thread reuses its connection, which a new thread per request never could.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from asgiref.sync import ThreadSensitiveContext

#: The name prefix of these threads (``django-request-<n>_0``); they tidy their own connections
#: (see ``runtime.py``).
THREAD_PREFIX = "django-request"
_numbers = itertools.count(1)


class RequestThreads:
    """A pool of single-thread executors, one lent to each request in flight."""

    def __init__(self, max_idle: int = 32) -> None:
        #: How many idle threads are kept for the next requests; more in flight at once is fine.
        self.max_idle = max_idle
        self._idle: list[ThreadPoolExecutor] = []
        self._lock = threading.Lock()  # one router may serve several event loops (threads of tests)

    @asynccontextmanager
    async def request(self) -> AsyncIterator[None]:
        """The block of one request: its thread-sensitive sync code runs in one thread of its own."""
        executor = self._take()
        reusable = False
        try:
            async with ThreadSensitiveContext(executor=executor):
                yield
            reusable = True
        finally:
            self._give_back(executor, reusable)

    def _take(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{THREAD_PREFIX}-{next(_numbers)}")

    def _give_back(self, executor: ThreadPoolExecutor, reusable: bool) -> None:
        if reusable:
            with self._lock:
                if len(self._idle) < self.max_idle:
                    self._idle.append(executor)
                    return
        executor.shutdown(wait=False)

    def idle(self) -> int:
        with self._lock:
            return len(self._idle)

    def close(self) -> None:
        """Stop the idle threads (those of requests in flight stop when their requests end)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for executor in idle:
            executor.shutdown(wait=False)
