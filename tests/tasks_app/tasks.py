"""Task functions the tasks tests enqueue on RestateBackend."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from django.db import connections
from django_tasks import task

from django_restate.tasks.compat import TaskContext

from .models import TaskEffect


class Permanent(Exception):
    """Listed in TERMINAL_EXCEPTIONS by the test settings."""


@task
def add(a: int, b: int) -> int:
    return a + b


@task
def echo(*args: Any, **kwargs: Any) -> dict[str, Any]:
    return {"args": list(args), "kwargs": kwargs}


@task
def noop() -> None:
    return None


@task
async def async_add(a: int, b: int) -> int:
    await asyncio.sleep(0)
    return a + b


@task(takes_context=True)
def attempt_number(context: TaskContext[Any, Any]) -> dict[str, Any]:
    return {"attempt": context.attempt, "id": context.task_result.id}


@task(takes_context=True)
def flaky(context: TaskContext[Any, Any], tag: str, failures: int) -> int:
    """Fails its first ``failures`` attempts, then succeeds; records each attempt that commits."""
    TaskEffect.objects.create(tag=tag, attempt=context.attempt)
    if context.attempt <= failures:
        raise ConnectionError(f"attempt {context.attempt} of {tag} fails")
    return context.attempt


@task
def always_fails(tag: str) -> None:
    TaskEffect.objects.create(tag=tag)
    raise ValueError(f"{tag} always fails")


@task
def fails_for_good(tag: str) -> None:
    TaskEffect.objects.create(tag=tag)
    raise Permanent(f"{tag} cannot succeed")


@task
def returns_object() -> Any:
    return object()


@task
def record(tag: str, pause: float = 0.0) -> str:
    """The side effect counted by the crash test: one row per committed run."""
    if pause:
        time.sleep(pause)
    TaskEffect.objects.create(tag=tag)
    return tag


@task
def in_transaction() -> bool:
    return connections["default"].in_atomic_block


@task(queue_name="emails")
def on_emails_queue() -> str:
    return "sent"
