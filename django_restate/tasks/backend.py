"""``RestateBackend``: Django's Tasks framework on Restate.

::

    TASKS = {
        "default": {
            "BACKEND": "django_restate.tasks.RestateBackend",
            "QUEUES": ["default", "emails"],
            "OPTIONS": {
                "RETRY": {"max_attempts": 5, "initial_interval": 1.0, "factor": 2.0, "max_interval": 60.0},
                "TERMINAL_EXCEPTIONS": ["shop.errors.CardDeclined"],
            },
        }
    }

Enqueueing starts a ``DjangoTask`` workflow (:mod:`.restate_services`) whose id is the
``TaskResult`` id; Restate invokes it on the project's own endpoint, so the Django processes
that serve the endpoint run the tasks: there is no separate worker. Results are the workflow's
state, read through its shared handler from any process.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.apps import apps
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, transaction
from django.utils import timezone
from django.utils.crypto import get_random_string
from django.utils.module_loading import import_string
from typing_extensions import ParamSpec

from ..client import client
from ..exceptions import IngressError, IngressUnreachable, InvocationNotReady
from ..registry import registry
from .compat import BaseTaskBackend, Task, TaskResult, TaskResultDoesNotExist, TaskResultStatus, task_enqueued
from .results import ErrorRecord, Job, RetryPolicy, TaskState, new_state, timestamp, to_result

P = ParamSpec("P")
T = TypeVar("T")

DEFAULT_RETRY = RetryPolicy(max_attempts=3, initial_interval=1.0, factor=2.0, max_interval=60.0)

OPTIONS: dict[str, str] = {
    "RETRY": "the retry policy of a task that raises: max_attempts, initial_interval, factor, max_interval",
    "TERMINAL_EXCEPTIONS": "exception classes (or their import paths) that fail a task at once, without a retry",
    "ATOMIC": "run each sync task in a transaction recorded exactly once (default True)",
    "OUTBOX": "send an enqueue made inside transaction.atomic() only when it commits (default True)",
    "DATABASE": "the database of ATOMIC and OUTBOX (default 'default')",
}

#: How long ``get_result`` waits for a workflow Restate accepted to write its first state.
START_WAIT = 2.0


class RestateBackend(BaseTaskBackend):
    """Runs ``@task`` functions as durable, retried Restate workflows served by this project."""

    supports_defer = True
    supports_async_task = True
    supports_get_result = True
    # Restate runs invocations as they come; it has no notion of one going before another.
    supports_priority = False

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        unknown = sorted(set(self.options) - set(OPTIONS))
        if unknown:
            valid = "; ".join(f"{key}: {what}" for key, what in OPTIONS.items())
            raise ImproperlyConfigured(f"TASKS[{alias!r}]['OPTIONS'] has unknown key(s) {', '.join(unknown)}. {valid}.")
        self.retry = _retry_policy(alias, self.options.get("RETRY") or {})
        self.terminal = [_exception_path(alias, e) for e in self.options.get("TERMINAL_EXCEPTIONS", ())]
        self.atomic = bool(self.options.get("ATOMIC", True))
        self.outbox = bool(self.options.get("OUTBOX", True))
        self.database = str(self.options.get("DATABASE", DEFAULT_DB_ALIAS))

    # -- enqueue ------------------------------------------------------------------------------

    def enqueue(self, task: Task[P, T], args: Any, kwargs: Any) -> TaskResult[P, T]:
        """Start the task's workflow; inside ``transaction.atomic()`` only once the transaction commits."""
        self.validate_task(task)
        result, job = self._prepare(task, args, kwargs)
        run = client.workflow(_service(), result.id).run
        if self.outbox and transaction.get_connection(self.database).in_atomic_block:
            run.send_on_commit(job, using=self.database)
        else:
            run.send(job)
        task_enqueued.send(type(self), task_result=result)
        return result

    async def aenqueue(self, task: Task[P, T], args: Any, kwargs: Any) -> TaskResult[P, T]:
        """The async twin of :meth:`enqueue` (async code runs outside ``atomic()``: it sends at once)."""
        self.validate_task(task)
        result, job = self._prepare(task, args, kwargs)
        await client.workflow(_service(), result.id).run.asend(job)
        await task_enqueued.asend(type(self), task_result=result)
        return result

    def _prepare(self, task: Task[P, T], args: Any, kwargs: Any) -> tuple[TaskResult[P, T], Job]:
        now = timezone.now()
        result: TaskResult[P, T] = TaskResult(
            task=task,
            id=get_random_string(32),
            status=TaskResultStatus.READY,
            enqueued_at=now,
            started_at=None,
            finished_at=None,
            last_attempted_at=None,
            args=list(args),
            kwargs=dict(kwargs),
            backend=self.alias,
            errors=[],
            worker_ids=[],
        )
        job = Job(
            id=result.id,
            task=task.module_path,
            backend=self.alias,
            queue_name=task.queue_name,
            run_after=timestamp(task.run_after) if task.run_after is not None else None,
            enqueued_at=timestamp(now),
            args=result.args,  # normalised to JSON by TaskResult
            kwargs=result.kwargs,
            retry=self.retry,
            terminal=self.terminal,
            atomic=self.atomic,
            database=self.database,
        )
        return result, job

    # -- results ------------------------------------------------------------------------------

    def get_result(self, result_id: str) -> TaskResult[Any, Any]:
        """The task's result as its workflow last recorded it, from any process.

        A task enqueued in a transaction that Restate has not received yet (it was down at the
        commit; the outbox's relay will send it) is READY, read from its outbox row.
        """
        workflow = client.workflow(_service(), result_id) if result_id else None
        deadline = time.monotonic() + START_WAIT
        while workflow is not None:
            try:
                state: TaskState | None = workflow.result()
            except IngressUnreachable:
                state = self._from_outbox(result_id)
                if state is None:
                    raise
            if state is not None:
                return to_result(state)
            if not _accepted(workflow) or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        state = self._from_outbox(result_id) if result_id else None
        if state is None:
            raise TaskResultDoesNotExist(result_id)
        return to_result(state)

    async def aget_result(self, result_id: str) -> TaskResult[Any, Any]:
        """The async twin of :meth:`get_result`."""
        workflow = client.workflow(_service(), result_id) if result_id else None
        deadline = time.monotonic() + START_WAIT
        from_outbox = sync_to_async(self._from_outbox)
        while workflow is not None:
            try:
                state: TaskState | None = await workflow.result.acall()
            except IngressUnreachable:
                state = await from_outbox(result_id)
                if state is None:
                    raise
            if state is not None:
                return to_result(state)
            if not await _aaccepted(workflow) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.02)
        state = await from_outbox(result_id) if result_id else None
        if state is None:
            raise TaskResultDoesNotExist(result_id)
        return to_result(state)

    def _from_outbox(self, result_id: str) -> TaskState | None:
        """The state of a task whose start is still in the outbox: READY while it waits there,
        FAILED if Restate refused it (the row's error says why)."""
        from ..outbox.models import OutboxMessage

        row = (
            OutboxMessage.objects.using(self.database)
            .filter(service=registry.get(_service()).name, key=result_id, handler="run")
            .exclude(status=OutboxMessage.Status.DELIVERED)
            .order_by("-pk")
            .first()
        )
        if row is None or row.body is None:
            return None
        state = new_state(json.loads(bytes(row.body)))
        if row.status == OutboxMessage.Status.FAILED:
            state["status"] = TaskResultStatus.FAILED.value
            state["errors"].append(
                ErrorRecord(
                    exception_class_path=f"{IngressError.__module__}.{IngressError.__qualname__}",
                    traceback=f"Restate refused to start the task: {row.last_error}",
                )
            )
        return state

    # -- checks -------------------------------------------------------------------------------

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        messages = list(super().check(**kwargs))
        if not apps.is_installed("django_restate.tasks"):
            messages.append(
                checks.Error(
                    f"TASKS[{self.alias!r}] uses RestateBackend, but the app that runs its tasks is not installed.",
                    hint='Add "django_restate.tasks" to INSTALLED_APPS (after "django_restate").',
                    obj=self.alias,
                    id="django_restate_tasks.E001",
                )
            )
        return messages


def _service() -> Any:
    from .restate_services import DjangoTask

    return DjangoTask


def _accepted(workflow: Any) -> bool:
    """Whether Restate holds a run for this workflow id that has not recorded anything yet."""
    try:
        workflow.run.output()
    except InvocationNotReady:
        return True
    except Exception:
        return False
    return False


async def _aaccepted(workflow: Any) -> bool:
    try:
        await workflow.run.aoutput()
    except InvocationNotReady:
        return True
    except Exception:
        return False
    return False


def _retry_policy(alias: str, given: Mapping[str, Any]) -> RetryPolicy:
    unknown = sorted(set(given) - set(DEFAULT_RETRY))
    if unknown:
        raise ImproperlyConfigured(
            f"TASKS[{alias!r}]['OPTIONS']['RETRY'] has unknown key(s) {', '.join(unknown)}; "
            f"valid: {', '.join(DEFAULT_RETRY)}."
        )
    policy = RetryPolicy(**{**DEFAULT_RETRY, **given})  # type: ignore[typeddict-item]
    if not (isinstance(policy["max_attempts"], int) and policy["max_attempts"] >= 1):
        raise ImproperlyConfigured(
            f"TASKS[{alias!r}]['OPTIONS']['RETRY']['max_attempts'] must be a whole number >= 1 "
            "(1 means no retry); a task is never retried forever."
        )
    for key in ("initial_interval", "factor", "max_interval"):
        if not isinstance(policy[key], (int, float)) or policy[key] < 0:
            raise ImproperlyConfigured(f"TASKS[{alias!r}]['OPTIONS']['RETRY'][{key!r}] must be a number >= 0.")
    return policy


def _exception_path(alias: str, value: Any) -> str:
    cls = import_string(value) if isinstance(value, str) else value
    if not (isinstance(cls, type) and issubclass(cls, BaseException)):
        raise ImproperlyConfigured(
            f"TASKS[{alias!r}]['OPTIONS']['TERMINAL_EXCEPTIONS'] holds {value!r}, which is not an exception class."
        )
    return f"{cls.__module__}.{cls.__qualname__}"
