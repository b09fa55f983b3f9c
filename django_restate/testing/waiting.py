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

``check`` signals "not yet" by raising ``AssertionError`` (or one of ``retry_on``); its
return value is returned. After ``timeout`` seconds the last error is raised as it was,
with a note saying how long the test waited, so the failure shows what was last seen.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar, cast

T = TypeVar("T")

Errors = type[BaseException] | tuple[type[BaseException], ...]

__all__ = ["aeventually", "eventually"]


def eventually(
    check: Callable[[], T],
    timeout: float = 10.0,
    interval: float = 0.05,
    *,
    retry_on: Errors = AssertionError,
) -> T:
    """Call ``check()`` every ``interval`` seconds until it stops raising ``retry_on``
    (``AssertionError`` by default) and return what it returned. After ``timeout`` seconds,
    raise the last error (with a note of the wait). Other errors propagate at once."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except retry_on as error:
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
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if inspect.isawaitable(result):
                result = await result
            return cast(T, result)
        except retry_on as error:
            if time.monotonic() >= deadline:
                error.add_note(f"(still failing after aeventually() waited {timeout:g}s)")
                raise
        await asyncio.sleep(interval)
