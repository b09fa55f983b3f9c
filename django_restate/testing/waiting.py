"""Waiting for something that happens in the background: ``eventually(check)``.

Against a real restate-server, sends, retries and workflows run on their own time, so a
test asserts on their effects by polling. One helper does that, with the deadline and the
last failure in one place::

    from django_restate.testing import eventually

    def paid() -> dict:
        state = restate_backend.state(Order, order_id)
        assert state.get("status") == "paid", state
        return state

    state = eventually(paid, timeout=20)

``check`` signals "not yet" by raising ``AssertionError`` (or one of ``retry_on``), or by
returning ``False``, so a condition can be written as it reads,
``eventually(lambda: Order.objects.filter(paid=True).exists())``; any other return value is
returned. After ``timeout`` seconds the last error is raised as it was,
with a note saying how long the test waited, so the failure shows what was last seen.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar, cast

from ..exceptions import RestateError

T = TypeVar("T")

Errors = type[BaseException] | tuple[type[BaseException], ...]

__all__ = ["aeventually", "eventually"]


class StillFalse(RestateError, AssertionError):
    """A check returned ``False``: its condition does not hold yet."""


def not_false(result: T) -> T:
    """``result``, unless it is ``False``: then :class:`StillFalse`, the "not yet" a check written
    as a condition (``lambda: x == 1``) means. Without it such a check would pass at once, true or
    not."""
    if result is False:
        raise StillFalse("the check returned False")
    return result


def not_yet(retry_on: Errors) -> tuple[type[BaseException], ...]:
    """What a failed look raises: ``retry_on``, or :class:`StillFalse` whatever ``retry_on`` names."""
    return (*(retry_on if isinstance(retry_on, tuple) else (retry_on,)), StillFalse)


def eventually(
    check: Callable[[], T],
    timeout: float = 10.0,
    interval: float = 0.05,
    *,
    retry_on: Errors = AssertionError,
) -> T:
    """Call ``check()`` every ``interval`` seconds until it stops raising ``retry_on``
    (``AssertionError`` by default) or returning ``False``, and return what it returned. After
    ``timeout`` seconds, raise the last error (with a note of the wait). Other errors propagate at
    once."""
    retry = not_yet(retry_on)
    deadline = time.monotonic() + timeout
    while True:
        try:
            return not_false(check())
        except retry as error:
            if time.monotonic() >= deadline:
                error.add_note(f"(still failing after eventually() waited {timeout:g}s)")
                raise
        time.sleep(interval)


async def aeventually(
    check: Callable[[], T | Awaitable[T]],
    timeout: float = 10.0,
    interval: float = 0.05,
    *,
    retry_on: Errors = AssertionError,
) -> T:
    """`eventually` for async tests: it sleeps with ``asyncio.sleep``, and ``check`` may be
    a coroutine function."""
    retry = not_yet(retry_on)
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if inspect.isawaitable(result):
                result = await result
            return cast(T, not_false(result))
        except retry as error:
            if time.monotonic() >= deadline:
                error.add_note(f"(still failing after aeventually() waited {timeout:g}s)")
                raise
        await asyncio.sleep(interval)
