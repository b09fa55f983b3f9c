"""One attempt of a task, run by the ``DjangoTask`` workflow inside a durable step.

An attempt never raises: whatever the task function does, it returns an :class:`Outcome`
that Restate journals, so the retry policy is the workflow's to apply (pausing with durable
timers, recording each failure) rather than an opaque endless retry of the step.
"""

from __future__ import annotations

import copy
import inspect
import os
import socket
import time
import traceback
from collections.abc import Callable
from typing import Any

from django.utils.module_loading import import_string
from restate.exceptions import TerminalError

from .. import steps
from ..exceptions import RestateError
from .compat import (
    Task,
    TaskContext,
    TaskError,
    TaskResult,
    TaskResultStatus,
    normalize_json,
    task_finished,
    task_started,
)
from .results import Claim, ErrorRecord, Job, Outcome, TaskState, load_task, to_result, when


class UnserializableReturnValue(RestateError, TypeError):
    """The task returned something JSON cannot hold; running it again would not change that."""


def worker_id() -> str:
    """This process, as ``TaskResult.worker_ids`` names it (read each time: a fork changes the pid)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def claim() -> Claim:
    return Claim(at=time.time(), worker=worker_id())


def attempt_for(job: Job) -> Callable[[TaskState, int], Any]:
    """The step function of one attempt of ``job``'s task, for ``ctx.run_typed``: a plain function
    for a sync task, so that it runs where sync ``ctx.run`` actions run (the SDK's step executor,
    where the ORM is safe and connections are tidied, :class:`~django_restate.runtime.StepExecutor`;
    the mock's test thread, inside the test's transaction), a coroutine function for an async one."""
    try:
        is_async = inspect.iscoroutinefunction(load_task(job).func)
    except Exception:  # the sync attempt loads it again and records why it cannot
        is_async = False
    return _async_attempt if is_async else _sync_attempt


def _sync_attempt(state: TaskState, number: int) -> Outcome:
    loaded = _load(state)
    if not isinstance(loaded, tuple):
        return loaded
    task, result = loaded
    return _run_sync(task, result, state["job"], number)


async def _async_attempt(state: TaskState, number: int) -> Outcome:
    loaded = _load(state)
    if not isinstance(loaded, tuple):
        return loaded
    task, result = loaded
    job = state["job"]
    await task_started.asend(_sender(task), task_result=result)
    outcome = await _call_async(task, result, job)
    if _finish(result, outcome, job, number):
        await task_finished.asend(_sender(task), task_result=result)
    return outcome


def _load(state: TaskState) -> tuple[Task[Any, Any], TaskResult[Any, Any]] | Outcome:
    """The task and its result object, or the terminal failure of a task that cannot be found here
    (no retry would find it)."""
    state = copy.deepcopy(state)  # the task's context may mutate what it is given
    try:
        task = load_task(state["job"])
        return task, to_result(state, task)
    except Exception as exc:
        return _failure(exc, terminal=True)


def _run_sync(task: Task[Any, Any], result: TaskResult[Any, Any], job: Job, number: int) -> Outcome:
    task_started.send(_sender(task), task_result=result)
    outcome = _call_atomic(task, result, job, number) if job["atomic"] else _call_sync(task, result, job)
    if _finish(result, outcome, job, number):
        task_finished.send(_sender(task), task_result=result)
    return outcome


def _call_sync(task: Task[Any, Any], result: TaskResult[Any, Any], job: Job) -> Outcome:
    try:
        return _success(_call(task, result))
    except Exception as exc:
        return _failure(exc, terminal=_is_terminal(exc, job))


async def _call_async(task: Task[Any, Any], result: TaskResult[Any, Any], job: Job) -> Outcome:
    try:
        return _success(await _call(task, result))
    except Exception as exc:
        return _failure(exc, terminal=_is_terminal(exc, job))


def _call_atomic(task: Task[Any, Any], result: TaskResult[Any, Any], job: Job, number: int) -> Outcome:
    """The task and the record of its outcome in one transaction: committed together or not at all
    (:func:`~django_restate.steps.run_once`, the same record as ``atomic_step(once=True)``'s).

    A second run of the same attempt (the process died after COMMIT, before Restate journaled
    the outcome) finds the record and returns it without calling the function again.
    """
    try:
        return steps.run_once(
            lambda: _success(_call(task, result)),
            using=job["database"],
            invocation_id=job["id"],  # one DjangoTask workflow per result id
            step=steps.step_key(job["task"], (number,), {}),
            name=f"{job['task']} attempt {number}",
        )
    except Exception as exc:  # rolled back: nothing the task wrote is left
        return _failure(exc, terminal=_is_terminal(exc, job))


def _call(task: Task[Any, Any], result: TaskResult[Any, Any]) -> Any:
    if task.takes_context:
        return task.func(TaskContext(task_result=result), *result.args, **result.kwargs)
    return task.func(*result.args, **result.kwargs)


def _success(value: Any) -> Outcome:
    try:
        value = normalize_json(value)
    except (TypeError, ValueError) as exc:
        raise UnserializableReturnValue(f"The task returned a value that is not JSON: {exc}") from exc
    return Outcome(ok=True, value=value, error=None, terminal=False, finished_at=time.time())


def _failure(exc: BaseException, *, terminal: bool) -> Outcome:
    error = ErrorRecord(
        exception_class_path=f"{type(exc).__module__}.{type(exc).__qualname__}",
        traceback="".join(traceback.format_exception(exc)),
    )
    return Outcome(ok=False, value=None, error=error, terminal=terminal, finished_at=time.time())


def _is_terminal(exc: BaseException, job: Job) -> bool:
    if isinstance(exc, (TerminalError, UnserializableReturnValue)):
        return True
    return any(isinstance(exc, _exception_class(path)) for path in job["terminal"])


def _exception_class(path: str) -> type[BaseException]:
    cls = import_string(path)
    if not (isinstance(cls, type) and issubclass(cls, BaseException)):
        raise TypeError(f"{path} in TERMINAL_EXCEPTIONS is not an exception class.")
    return cls


def _finish(result: TaskResult[Any, Any], outcome: Outcome, job: Job, number: int) -> bool:
    """Whether this attempt ends the task; if so, bring ``result`` up to date for ``task_finished``."""
    final = outcome["ok"] or outcome["terminal"] or number >= job["retry"]["max_attempts"]
    if final:
        status = TaskResultStatus.SUCCESSFUL if outcome["ok"] else TaskResultStatus.FAILED
        object.__setattr__(result, "status", status)
        object.__setattr__(result, "finished_at", when(outcome["finished_at"]))
        object.__setattr__(result, "_return_value", outcome["value"])
        if outcome["error"] is not None:
            result.errors.append(TaskError(**outcome["error"]))
    return final


def _sender(task: Task[Any, Any]) -> type[Any]:
    return type(task.get_backend())
