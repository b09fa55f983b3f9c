"""What the ``DjangoTask`` workflow keeps in its state, and the ``TaskResult`` read back from it.

The workflow's input (:class:`Job`) is everything needed to run the task, frozen at enqueue
time: the function's import path, its JSON arguments and the backend's retry policy, so a
settings change never makes a running workflow's replay diverge from its journal. Its one
state entry (:class:`TaskState`) is the job plus what happened so far; every process reads it
through the workflow's shared ``result`` handler.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string
from typing_extensions import TypedDict

from .compat import Task, TaskError, TaskResult, TaskResultStatus

#: The workflow's state key.
STATE = "task"


class RetryPolicy(TypedDict):
    """Attempts and the pause before each retry: ``initial_interval * factor ** (n - 1)`` seconds,
    at most ``max_interval``."""

    max_attempts: int
    initial_interval: float
    factor: float
    max_interval: float


class Job(TypedDict):
    """The input of ``DjangoTask.run``: one enqueued task."""

    id: str
    task: str  # the @task function's import path
    backend: str
    queue_name: str
    run_after: float | None  # POSIX timestamps, seconds
    enqueued_at: float
    args: list[Any]
    kwargs: dict[str, Any]
    retry: RetryPolicy
    terminal: list[str]  # exception classes that fail the task without a retry
    atomic: bool  # run a sync task in one transaction, recorded exactly once
    database: str


class ErrorRecord(TypedDict):
    exception_class_path: str
    traceback: str


class Outcome(TypedDict):
    """What one attempt returned, journaled by Restate as the attempt step's result."""

    ok: bool
    value: Any
    error: ErrorRecord | None
    terminal: bool
    finished_at: float


class Claim(TypedDict):
    """When an attempt started and which process took it."""

    at: float
    worker: str


class TaskState(TypedDict):
    job: Job
    status: str
    started_at: float | None
    last_attempted_at: float | None
    finished_at: float | None
    worker_ids: list[str]
    errors: list[ErrorRecord]
    return_value: Any


def new_state(job: Job) -> TaskState:
    return TaskState(
        job=job,
        status=TaskResultStatus.READY.value,
        started_at=None,
        last_attempted_at=None,
        finished_at=None,
        worker_ids=[],
        errors=[],
        return_value=None,
    )


def load_task(job: Job) -> Task[Any, Any]:
    """The ``Task`` object ``@task`` made, by its import path, as the job was enqueued."""
    task = import_string(job["task"])
    if not isinstance(task, Task):
        raise TypeError(f"{job['task']} is not a task (decorate the function with @task).")
    return task.using(queue_name=job["queue_name"], backend=job["backend"], run_after=when(job["run_after"]))


def to_result(state: TaskState, task: Task[Any, Any] | None = None) -> TaskResult[Any, Any]:
    job = state["job"]
    result: TaskResult[Any, Any] = TaskResult(
        task=task if task is not None else load_task(job),
        id=job["id"],
        status=TaskResultStatus(state["status"]),
        enqueued_at=when(job["enqueued_at"]),
        started_at=when(state["started_at"]),
        finished_at=when(state["finished_at"]),
        last_attempted_at=when(state["last_attempted_at"]),
        args=list(job["args"]),
        kwargs=dict(job["kwargs"]),
        backend=job["backend"],
        errors=[TaskError(**error) for error in state["errors"]],
        worker_ids=list(state["worker_ids"]),
    )
    object.__setattr__(result, "_return_value", state["return_value"])
    return result


def timestamp(value: datetime) -> float:
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    return value.timestamp()


def when(value: float | None) -> datetime | None:
    """A stored timestamp as Django's datetimes: aware in UTC, or naive local time without USE_TZ."""
    if value is None:
        return None
    moment = datetime.fromtimestamp(value, tz=UTC)
    return moment if settings.USE_TZ else timezone.make_naive(moment)
