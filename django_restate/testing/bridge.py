"""Running the mock's event loop from a synchronous test, in the test's own thread.

Handlers are coroutines; most Django tests are synchronous and hold their database
connection (and the transaction that rolls back after the test) in the test's thread.
``async_to_sync`` would start a new thread and event loop for every call, which costs
more than a mock call itself. Instead the mock owns one event loop and runs it in the
test's thread; whenever a handler needs synchronous work (a ``ctx.run`` action, an ORM
read, Django's async ORM, ``sync_to_async``), the loop pauses and the work runs right
there, with no event loop running, as ``sync_to_async(thread_sensitive=True)`` would run
it in the thread that owns the connection.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections import deque
from collections.abc import Callable, Coroutine
from concurrent.futures import Executor, Future
from typing import Any, TypeVar

from asgiref.sync import AsyncToSync, SyncToAsync

T = TypeVar("T")

_THREADLOCAL_NAMES = ("main_event_loop", "main_event_loop_pid", "task_context")


class InlineExecutor(Executor):
    """Queues work from the event loop; the test's thread runs it while the loop is paused."""

    def __init__(self) -> None:
        self._items: deque[tuple[Future[Any] | asyncio.Future[Any], Callable[..., Any], tuple[Any, ...]]] = deque()
        self.wakeup: asyncio.Future[None] | None = None

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        """The ``Executor`` API, for ``sync_to_async`` and ``run_in_executor`` in handler code."""
        future: Future[T] = Future()
        self._queue(future, functools.partial(fn, *args, **kwargs) if kwargs else fn, args)
        return future

    def run(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """The mock's own work: an asyncio future, so no cross-thread wake-up is needed."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue(future, fn, args)
        return future

    def _queue(self, future: Future[Any] | asyncio.Future[Any], fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self._items.append((future, fn, args))
        if self.wakeup is not None and not self.wakeup.done():
            self.wakeup.set_result(None)

    @property
    def pending(self) -> bool:
        return bool(self._items)

    def run_pending(self) -> None:
        while self._items:
            future, fn, args = self._items.popleft()
            if isinstance(future, Future) and not future.set_running_or_notify_cancel():
                continue
            if isinstance(future, asyncio.Future) and future.cancelled():
                continue
            try:
                result = fn(*args)
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(result)


class LoopBridge:
    """One event loop, driven from the test's thread for each mock action."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.executor = InlineExecutor()
        self.active = False

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        loop, executor = self.loop, self.executor
        saved_executor = getattr(AsyncToSync.executors, "current", None)
        saved_locals = {
            n: getattr(SyncToAsync.threadlocal, n) for n in _THREADLOCAL_NAMES if hasattr(SyncToAsync.threadlocal, n)
        }
        # sync_to_async(thread_sensitive=True) inside handlers (Django's async ORM too) finds
        # this executor and so runs in this thread, on the test's connection.
        AsyncToSync.executors.current = executor
        self.active = True
        try:
            task = loop.create_task(coroutine, context=contextvars.copy_context())
            while True:
                wakeup = executor.wakeup = loop.create_future()
                task.add_done_callback(functools.partial(_wake, wakeup))
                if not executor.pending and not task.done():
                    loop.run_until_complete(wakeup)
                executor.run_pending()
                if task.done() and not executor.pending:
                    break
            return task.result()
        finally:
            self.active = False
            executor.wakeup = None
            AsyncToSync.executors.current = saved_executor
            # sync_to_async leaves the loop in a thread-local; a later async_to_sync in this thread
            # would schedule onto it while it is paused, and wait forever.
            for name in _THREADLOCAL_NAMES:
                if name in saved_locals:
                    setattr(SyncToAsync.threadlocal, name, saved_locals[name])
                elif hasattr(SyncToAsync.threadlocal, name):
                    delattr(SyncToAsync.threadlocal, name)

    def close(self) -> None:
        if not self.loop.is_closed():
            self.loop.close()


def _wake(wakeup: asyncio.Future[None], _: object) -> None:
    if not wakeup.done():
        wakeup.set_result(None)
