"""Knowing when the mock's event loop has nothing left to do.

The mock runs every invocation as an asyncio task. It may advance virtual time, start
queued sends, or declare a deadlock only when no task can make progress by itself:
none is ready to run, no ``ctx.run`` action or database call is working in a thread,
and no real asyncio timer is pending. Thread work is counted here; ready tasks and
timers are read from the event loop.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from asgiref.sync import AsyncToSync, sync_to_async

from .bridge import InlineExecutor

T = TypeVar("T")


class Scheduler:
    def __init__(self) -> None:
        self.busy = 0
        self._activity: asyncio.Event | None = None
        #: Set while a synchronous test drives the loop (see :mod:`.bridge`).
        self.inline: InlineExecutor | None = None
        self._threads: CountingExecutor | None = None

    async def run_sync(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``func`` in the thread that owns the test's database connection, with no event loop
        running there, as ``sync_to_async(thread_sensitive=True)`` runs Django views' ORM code;
        counted as work in progress. Like the SDK, it runs in a copy of the current context."""
        call = functools.partial(contextvars.copy_context().run, func, *args, **kwargs)
        if self.inline is not None:
            async with self.working():
                return await self.inline.run(call)
        return await sync_to_async(call, thread_sensitive=True)()

    @asynccontextmanager
    async def session(self) -> AsyncIterator[None]:
        """Around each test action. In an async test (no :mod:`.bridge`), ``sync_to_async`` in handler
        code runs in a worker thread this scheduler counts, so it knows when that work is done."""
        if self.inline is not None:
            yield
            return
        if self._threads is None:
            self._threads = CountingExecutor(self)
        saved = getattr(AsyncToSync.executors, "current", None)
        AsyncToSync.executors.current = self._threads
        try:
            yield
        finally:
            AsyncToSync.executors.current = saved

    def done_one(self) -> None:
        self.busy -= 1
        if self._activity is not None:
            self._activity.set()

    @asynccontextmanager
    async def working(self) -> AsyncIterator[None]:
        """Mark work the loop cannot see (a thread, real I/O in an async ``ctx.run`` action)."""
        self.busy += 1
        try:
            yield
        finally:
            self.busy -= 1
            if self._activity is not None:
                self._activity.set()

    async def settle(self) -> None:
        """Return once every task is blocked on something only the mock can complete."""
        loop = asyncio.get_running_loop()
        self._activity = asyncio.Event()
        while True:
            await asyncio.sleep(0)
            if _ready(loop) or (self.inline is not None and self.inline.pending):
                continue
            if self.busy:
                self._activity.clear()
                await self._activity.wait()
                continue
            if _timers_pending(loop):
                await asyncio.sleep(0.0005)
                continue
            return


def _ready(loop: asyncio.AbstractEventLoop) -> bool:
    # CPython's BaseEventLoop keeps runnable callbacks in ``_ready``; this is the only way to
    # know that no task is runnable without every task reporting to us.
    return bool(getattr(loop, "_ready", ()))


def _timers_pending(loop: asyncio.AbstractEventLoop) -> bool:
    return any(not handle.cancelled() for handle in getattr(loop, "_scheduled", ()))


class CountingExecutor(Executor):
    """One worker thread for thread-sensitive work in async tests, counted as work in progress."""

    def __init__(self, scheduler: Scheduler) -> None:
        self._scheduler = scheduler
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="restate-mock")

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        loop = asyncio.get_running_loop()
        self._scheduler.busy += 1
        future = self._pool.submit(fn, *args, **kwargs)
        future.add_done_callback(lambda _: loop.call_soon_threadsafe(self._scheduler.done_one))
        return future
