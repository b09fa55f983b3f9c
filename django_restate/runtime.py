"""What wraps every invocation served by this Django project."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from asgiref.sync import sync_to_async
from django.db import close_old_connections

ContextManagerFactory = Callable[[], AbstractAsyncContextManager[None]]


@asynccontextmanager
async def django_connections() -> AsyncIterator[None]:
    """Close stale database connections around each invocation, as Django does around
    each request (``request_started`` / ``request_finished``)."""
    await sync_to_async(close_old_connections, thread_sensitive=True)()
    try:
        yield
    finally:
        await sync_to_async(close_old_connections, thread_sensitive=True)()


def invocation_context_managers() -> list[ContextManagerFactory]:
    return [django_connections]
