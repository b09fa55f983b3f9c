"""What wraps every invocation served by this Django project, and helpers for handler code.

Each invocation attempt runs inside :func:`invocation_context_managers` (the
endpoint passes them to every SDK service):

- database connections are tidied the way Django tidies them around each
  request: ``close_old_connections()`` before and after, which honours
  ``CONN_MAX_AGE`` and ``CONN_HEALTH_CHECKS``;
- the worker threads that run sync ``ctx.run`` / ``ctx.run_typed`` actions
  tidy their own connections after every action (:class:`StepExecutor`),
  since each thread holds its own connection and nobody else would close it;
- :mod:`django_restate.signals` are sent, when something listens;
- with tracing on, the attempt runs inside its OpenTelemetry span (:mod:`django_restate.tracing`).

Sync ORM code belongs in ``ctx.run`` / ``ctx.run_typed`` actions (the SDK runs
them in a worker thread, where Django allows it); async ORM (``aget``,
``acreate``, ...) works directly in the handler.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, ParamSpec, TypeVar, overload

from asgiref.sync import sync_to_async
from django.db import DEFAULT_DB_ALIAS, close_old_connections, connections, transaction
from django.db.backends.signals import connection_created
from django.dispatch import Signal, receiver
from restate.exceptions import SuspendedException, TerminalError

from . import signals
from .registry import NotRegistered, registry
from .request_threads import THREAD_PREFIX as REQUEST_THREAD_PREFIX

ContextManagerFactory = Callable[[], AbstractAsyncContextManager[None]]
P = ParamSpec("P")
T = TypeVar("T")

# -- database connections ---------------------------------------------------------------------


# Threads that may hold an open database connection. Filled by ``connection_created`` in the
# thread that connects, emptied by :func:`close_stale_connections` once that thread holds none.
# It lets an invocation skip the two hops to asgiref's thread-sensitive thread when nothing
# there can be stale, which is most of an invocation's overhead for handlers without async ORM.
# StepExecutor threads are left out: they tidy their own connections around every action, so a
# step that keeps its connection (CONN_MAX_AGE > 0) does not cost every later invocation the hops.
# So are the outbox's threads (its relay's queries, the marks of the sends made at commit), which
# close their own connections when idle, and Django's request threads (django_restate.request_threads).
# The threads themselves, weakly: a thread that ended is forgotten with it, and a new thread that
# gets an ended one's ident is not mistaken for it.
_threads_with_connections: weakref.WeakSet[threading.Thread] = weakref.WeakSet()
STEP_THREAD_PREFIX = "restate-step"
# Django's request threads, reused by the ASGI router, are tidied by Django at each request's start and end.
SELF_TIDYING_PREFIXES = (STEP_THREAD_PREFIX, "restate-outbox", REQUEST_THREAD_PREFIX)


@receiver(connection_created)
def _remember_connecting_thread(**kwargs: Any) -> None:
    thread = threading.current_thread()
    if not thread.name.startswith(SELF_TIDYING_PREFIXES):
        _threads_with_connections.add(thread)


def close_stale_connections() -> None:
    """``close_old_connections()`` for this thread, forgetting it once it holds no connection."""
    close_old_connections()
    if all(conn.connection is None for conn in connections.all(initialized_only=True)):
        _threads_with_connections.discard(threading.current_thread())


def _tidy(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    close_stale_connections()
    try:
        return fn(*args, **kwargs)
    finally:
        close_stale_connections()


class StepExecutor(ThreadPoolExecutor):
    """The event loop's default executor, which runs the SDK's sync ``ctx.run`` actions.

    Django keeps one connection per thread, and a pool thread lives as long as
    the loop: without this, every pool thread that ever touched the ORM would
    hold a connection forever. Each action runs between two
    ``close_old_connections()`` calls, exactly like a Django request, so with
    the default ``CONN_MAX_AGE = 0`` an action's connection is closed when it
    returns, and with ``CONN_MAX_AGE > 0`` each pool thread keeps at most one.
    """

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        return super().submit(_tidy, fn, *args, **kwargs)


_prepared_loops: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()
_prepared_loop_ids: dict[int, asyncio.AbstractEventLoop] = {}  # for loop types without weak references


def prepare_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Make :class:`StepExecutor` the loop's default executor, once per loop.

    It then also serves everything else in the process that calls
    ``loop.run_in_executor(None, ...)`` (``sync_to_async(thread_sensitive=False)``
    too), which gains the same connection hygiene.
    """
    try:
        if loop in _prepared_loops:
            return
        _prepared_loops.add(loop)
    except TypeError:
        if _prepared_loop_ids.get(id(loop)) is loop:
            return
        _prepared_loop_ids[id(loop)] = loop
    loop.set_default_executor(StepExecutor(thread_name_prefix=STEP_THREAD_PREFIX))


@asynccontextmanager
async def django_connections() -> AsyncIterator[None]:
    """Close stale database connections around each invocation, as Django does around
    each request (``request_started`` / ``request_finished``).

    Async ORM calls run in asgiref's thread-sensitive thread, so that is where
    the connections are closed; sync actions are covered by :class:`StepExecutor`.
    """
    prepare_loop(asyncio.get_running_loop())
    if _threads_with_connections:
        await sync_to_async(close_stale_connections, thread_sensitive=True)()
    try:
        yield
    finally:
        if _threads_with_connections:
            await sync_to_async(close_stale_connections, thread_sensitive=True)()


# -- signals ----------------------------------------------------------------------------------

_SIGNALS = (signals.invocation_started, signals.invocation_finished, signals.invocation_failed)


@asynccontextmanager
async def invocation_signals() -> AsyncIterator[None]:
    """Send ``invocation_started`` and then ``invocation_finished`` or ``invocation_failed``.

    Costs one attribute check per signal when no receiver is connected.
    """
    if not any(signal.receivers for signal in _SIGNALS):
        yield
        return
    sender, info = _describe_current_invocation()
    await _send(signals.invocation_started, sender, info)
    start = time.perf_counter()
    try:
        yield
    except SuspendedException:
        await _send(signals.invocation_finished, sender, info, duration=_since(start), suspended=True)
        raise
    except BaseException as exc:  # TerminalError, any user error, a dropped connection
        await _send(
            signals.invocation_failed, sender, info, duration=_since(start), exception=exc, terminal=is_terminal(exc)
        )
        raise
    else:
        await _send(signals.invocation_finished, sender, info, duration=_since(start), suspended=False)


def _describe_current_invocation() -> tuple[Any, dict[str, Any]]:
    from restate.server_context import current_context

    ctx: Any = current_context()
    service = ctx.handler.service_tag.name
    try:
        sender: Any = registry.get(service).cls
    except NotRegistered:  # an SDK service built by hand, not a registered handler class
        sender = None
    info = {
        "service": service,
        "handler": ctx.handler.name,
        "key": ctx.invocation.key or "",
        "invocation_id": ctx.invocation.invocation_id,
        "replaying": bool(ctx.vm.is_replaying()),
    }
    return sender, info


async def _send(signal: Signal, sender: Any, info: dict[str, Any], **extra: Any) -> None:
    if signal.receivers and signal.has_listeners(sender):
        # Robust: a metrics receiver that raises is logged by Django, and the invocation goes on.
        await signal.asend_robust(sender, **info, **extra)


def _since(start: float) -> float:
    return time.perf_counter() - start


def terminal_cause(exc: BaseException) -> TerminalError | None:
    """The ``TerminalError`` that makes Restate end the invocation with this exception, as the
    SDK decides: the exception itself, or one that caused it."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, TerminalError):
            return cause
        cause = cause.__cause__
    return None


def is_terminal(exc: BaseException) -> bool:
    return terminal_cause(exc) is not None


def invocation_context_managers() -> list[ContextManagerFactory]:
    """What wraps every invocation attempt: its count in this process's backpressure
    (:mod:`django_restate.backpressure`), its span when tracing is on (:mod:`django_restate.tracing`,
    decided when the endpoint is built), database connection hygiene, and the signals."""
    from . import tracing
    from .backpressure import counted_attempt

    managers: list[ContextManagerFactory] = [counted_attempt, django_connections, invocation_signals]
    if tracing.enabled():
        managers.insert(0, tracing.invocation_span)
    return managers


# -- durable steps that are database transactions ---------------------------------------------


@overload
def atomic_step(func: Callable[P, T], /) -> Callable[P, T]: ...
@overload
def atomic_step(
    func: None = None, /, *, using: str | None = None, savepoint: bool = True, once: bool = False
) -> Callable[[Callable[P, T]], Callable[P, T]]: ...
def atomic_step(
    func: Callable[P, T] | None = None, /, *, using: str | None = None, savepoint: bool = True, once: bool = False
) -> Callable[P, T] | Callable[[Callable[P, T]], Callable[P, T]]:
    """Make a sync ``ctx.run`` / ``ctx.run_typed`` action one database transaction.

    ::

        @atomic_step(using="default")
        def reserve(sku: str, quantity: int) -> int:
            product = Product.objects.select_for_update().get(sku=sku)
            ...

        left = await ctx.run_typed("reserve", reserve, sku=item.sku, quantity=item.quantity)

    The action commits when it returns and rolls back when it raises (a
    ``TerminalError`` rolls back and fails the step for good; any other error
    rolls back and the step is retried).

    A step can run more than once: Restate journals the result only after the
    action returned, so a crash or lost connection between COMMIT and the
    journal entry runs the action again on the next attempt, and during a
    cluster failover two attempts can overlap. ``once=True`` makes the
    database effects exactly-once: the transaction also records the step
    (:class:`~django_restate.steps.StepRun`, keyed by the invocation, the
    function and its arguments), so a repeat returns the first run's result
    without running the function, and of two overlapping runs the one that
    commits second is rolled back and returns the first one's result. Without it, make the transaction
    idempotent yourself (a unique key, ``get_or_create``).
    Effects outside the database (an e-mail, an HTTP call) are not covered.
    """

    def decorate(fn: Callable[P, T]) -> Callable[P, T]:
        if inspect.iscoroutinefunction(fn):
            raise TypeError(
                f"atomic_step cannot wrap the coroutine function {fn.__qualname__}: a database transaction "
                "cannot span awaits. Write the step as a plain `def` using the sync ORM; ctx.run runs it "
                "in a worker thread."
            )

        @functools.wraps(fn)
        def step(*args: P.args, **kwargs: P.kwargs) -> T:
            with transaction.atomic(using=using or DEFAULT_DB_ALIAS, savepoint=savepoint):
                return fn(*args, **kwargs)

        @functools.wraps(fn)
        def step_once(*args: P.args, **kwargs: P.kwargs) -> T:
            from . import steps

            invocation_id = steps.current_invocation_id()
            if invocation_id is None:  # called outside an invocation (a test, a shell): nothing to repeat
                return step(*args, **kwargs)
            return steps.run_once(
                functools.partial(fn, *args, **kwargs),
                using=using or DEFAULT_DB_ALIAS,
                invocation_id=invocation_id,
                step=steps.step_key(fn.__qualname__, args, kwargs),
                name=fn.__qualname__,
                savepoint=savepoint,
            )

        return step_once if once else step

    if func is not None:
        return decorate(func)
    return decorate
