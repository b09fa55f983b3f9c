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
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from typing import Any, TypeVar, cast

from asgiref.sync import AsyncToSync, sync_to_async

from .bridge import InlineExecutor, run_paused

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
        running there, as ``sync_to_async(thread_sensitive=True)`` runs Django views' ORM code: in a
        sync test right here (see :mod:`.bridge`), in an async test in the worker thread, counted as
        work in progress. Like the SDK, it runs in a copy of the current context."""
        call = functools.partial(contextvars.copy_context().run, func, *args, **kwargs)
        if self.inline is not None:  # a sync test: this thread is the one, run it here and now
            return run_paused(call)
        return await sync_to_async(call, thread_sensitive=True)()

    def session(self) -> AbstractContextManager[None]:
        """Around each test action. In an async test (no :mod:`.bridge`), ``sync_to_async`` in handler
        code runs in a worker thread this scheduler counts, so it knows when that work is done."""
        if self.inline is not None:
            return nullcontext()
        if self._threads is None:
            self._threads = CountingExecutor(self)
        return _CurrentExecutor(self._threads)

    def done_one(self) -> None:
        self.busy -= 1
        if self._activity is not None:
            self._activity.set()

    def working(self) -> AbstractContextManager[None]:
        """Mark work the loop cannot see (a thread, real I/O in an async ``ctx.run`` action)."""
        return _Working(self)

    async def settle(self) -> None:
        """Return once every task is blocked on something only the mock can complete."""
        loop = asyncio.get_running_loop()
        while True:
            if _ready(loop):  # with nothing ready, a pass of the loop would run nothing
                await asyncio.sleep(0)
                continue
            if self.busy:  # done_one() (a callback on this loop) sets it
                self._activity = asyncio.Event()
                await self._activity.wait()
                continue
            if _timers_pending(loop):
                await asyncio.sleep(0.0005)
                continue
            return


class _Working:
    """Counts one piece of work in progress (a class, not ``asynccontextmanager``: an async
    generator per ``ctx.run`` step cost more than the step)."""

    __slots__ = ("_scheduler",)

    def __init__(self, scheduler: Scheduler) -> None:
        self._scheduler = scheduler

    def __enter__(self) -> None:
        self._scheduler.busy += 1

    def __exit__(self, *exc: object) -> None:
        self._scheduler.done_one()


class _CurrentExecutor:
    """``AsyncToSync.executors.current`` for the block: where ``sync_to_async`` sends thread-sensitive work."""

    __slots__ = ("_executor", "_saved")

    def __init__(self, executor: Executor) -> None:
        self._executor = executor
        self._saved: Any = None

    def __enter__(self) -> None:
        self._saved = getattr(AsyncToSync.executors, "current", None)
        AsyncToSync.executors.current = self._executor

    def __exit__(self, *exc: object) -> None:
        AsyncToSync.executors.current = self._saved


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
        # An asyncio future, which ``run_in_executor`` hands back unchanged, completed in the same loop
        # callback that stops counting the work. With a concurrent future, asyncio's wrapper learns of
        # the result in a second callback from the worker thread, and the loop could run the first,
        # find nothing to do and declare a deadlock before the second arrived.
        loop = asyncio.get_running_loop()
        result: asyncio.Future[T] = loop.create_future()
        self._scheduler.busy += 1
        work = self._pool.submit(fn, *args, **kwargs)
        work.add_done_callback(lambda _: loop.call_soon_threadsafe(self._deliver, work, result))
        return cast("Future[T]", result)

    def _deliver(self, work: Future[T], result: asyncio.Future[T]) -> None:
        self._scheduler.done_one()
        if result.cancelled():
            return
        error = work.exception()
        if error is not None:
            result.set_exception(error)
        else:
            result.set_result(work.result())
