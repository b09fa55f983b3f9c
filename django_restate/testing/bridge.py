"""Running the mock's event loop from a synchronous test, in the test's own thread.

Handlers are coroutines; most Django tests are synchronous and hold their database
connection (and the transaction that rolls back after the test) in the test's thread.
``async_to_sync`` would start a new thread and event loop for every call, which costs
more than a mock call itself. Instead the mock runs one event loop in the test's thread;
whenever a handler needs synchronous work (a ``ctx.run`` action, an ORM read, Django's
async ORM, ``sync_to_async``), the work runs right there and then, with no event loop
running in the thread (Django's ``async_unsafe`` checks only that), as
``sync_to_async(thread_sensitive=True)`` would run it in the thread that owns the connection.

Running the work from inside the loop, rather than stopping the loop to run it, keeps a
mock call to one pass of the loop: stopping and restarting it for every step cost more
than the steps.
"""

from __future__ import annotations

import asyncio
import atexit
import contextvars
import os
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Executor, Future
from typing import Any, TypeVar, cast

from asgiref.sync import AsyncToSync, SyncToAsync

T = TypeVar("T")

_THREADLOCAL_NAMES = ("main_event_loop", "main_event_loop_pid", "task_context")


def run_paused(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Call ``fn`` from inside the running loop as if no loop were running in this thread: Django's
    ``async_unsafe`` (the ORM), ``async_to_sync`` and ``asyncio.run`` look only at the running loop."""
    loop = asyncio._get_running_loop()
    asyncio._set_running_loop(None)
    try:
        return fn(*args, **kwargs)
    finally:
        asyncio._set_running_loop(loop)


class InlineExecutor(Executor):
    """The executor ``sync_to_async(thread_sensitive=True)`` finds while the mock runs (it is
    ``AsyncToSync.executors.current``): work runs at once, in the test's thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        if asyncio._get_running_loop() is not self._loop:  # from a thread of the handler's own: hand it over
            future: Future[T] = Future()
            self._loop.call_soon_threadsafe(_run_into, future, fn, args, kwargs)
            return future
        # From the loop (``run_in_executor``): an asyncio future, already done, which
        # ``run_in_executor`` hands back unchanged (a concurrent one would wake the loop
        # through its self-pipe, one more pass per ORM call).
        done: asyncio.Future[T] = self._loop.create_future()
        _run_into(done, fn, args, kwargs)
        return cast("Future[T]", done)


def _run_into(
    future: Future[Any] | asyncio.Future[Any], fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Any
) -> None:
    if isinstance(future, Future) and not future.set_running_or_notify_cancel():
        return
    try:
        result = run_paused(fn, *args, **kwargs)
    except BaseException as exc:
        future.set_exception(exc)
    else:
        future.set_result(result)


class LoopBridge:
    """One event loop, driven from the test's thread for each mock action."""

    def __init__(self) -> None:
        self.loop = _idle_loop()
        self.executor = InlineExecutor(self.loop)
        self.active = False

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        # sync_to_async(thread_sensitive=True) inside handlers (Django's async ORM too) finds
        # this executor and so runs in this thread, on the test's connection. Set in the task's
        # own context (which the invocations' tasks inherit), there is nothing to restore after.
        context = contextvars.copy_context()
        context.run(setattr, AsyncToSync.executors, "current", self.executor)
        # sync_to_async leaves the loop in a thread-local (a plain threading.local); a later
        # async_to_sync in this thread would schedule onto it while it is stopped, and wait forever.
        threadlocal = vars(SyncToAsync.threadlocal)
        saved = {name: threadlocal[name] for name in _THREADLOCAL_NAMES if name in threadlocal}
        self.active = True
        try:
            return self.loop.run_until_complete(self.loop.create_task(coroutine, context=context))
        finally:
            self.active = False
            for name in _THREADLOCAL_NAMES:
                if name in saved:
                    threadlocal[name] = saved[name]
                else:
                    threadlocal.pop(name, None)

    def close(self) -> None:
        """Done with the loop: kept for the next mock in this thread if nothing is left on it."""
        _release(self.loop)


# -- one idle loop per thread, reused by the next mock ---------------------------------------------
# Creating an event loop (a selector, a self-pipe) and closing it cost about as much as a mock
# call: a test suite creates thousands of mocks, one per test, one after the other.

#: Per (process, thread): a forked child must not share its parent's selector and self-pipe.
_idle: dict[tuple[int, int], asyncio.AbstractEventLoop] = {}


def _idle_loop() -> asyncio.AbstractEventLoop:
    loop = _idle.pop((os.getpid(), threading.get_ident()), None)
    return loop if loop is not None and not loop.is_closed() else asyncio.new_event_loop()


def _release(loop: asyncio.AbstractEventLoop) -> None:
    if loop.is_closed():
        return
    # Only a loop with nothing left on it: no tasks, callbacks or timers of this test reach the next.
    clean = not asyncio.all_tasks(loop) and not getattr(loop, "_ready", True) and not getattr(loop, "_scheduled", True)
    where = (os.getpid(), threading.get_ident())
    if clean and where not in _idle:
        _idle[where] = loop
    else:
        loop.close()


@atexit.register
def _close_idle() -> None:
    pid = os.getpid()
    for where in [w for w in _idle if w[0] == pid]:
        _idle.pop(where).close()
