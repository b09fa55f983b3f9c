"""Django Tasks on Restate: RestateBackend against a real restate-server, with the behaviours the
django-tasks backport documents for a backend (modelled on its dummy and immediate backend tests)."""

from __future__ import annotations

import asyncio
import io
import time
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from django_restate import outbox
from django_restate.outbox.models import OutboxMessage
from django_restate.tasks import RestateBackend
from django_restate.tasks.compat import (
    InvalidTask,
    TaskResult,
    TaskResultDoesNotExist,
    TaskResultStatus,
    task_backends,
    task_enqueued,
)
from django_restate.testing.server import free_port
from tests.tasks_app import tasks
from tests.tasks_app.models import TaskEffect

pytestmark = pytest.mark.e2e


def wait_finished(result: TaskResult[Any, Any], timeout: float = 20.0) -> TaskResult[Any, Any]:
    deadline = time.monotonic() + timeout
    while not result.is_finished:
        assert time.monotonic() < deadline, f"{result.id} still {result.status} after {timeout}s"
        time.sleep(0.05)
        result.refresh()
    return result


@pytest.fixture
def live(restate_live):
    return restate_live


def test_enqueue_runs_the_task_in_the_endpoint_process(live):
    result = tasks.add.enqueue(2, 3)
    assert result.status == TaskResultStatus.READY
    assert result.backend == "default"
    assert result.enqueued_at is not None and result.started_at is None
    assert result.args == [2, 3] and result.kwargs == {}
    wait_finished(result)
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 5
    assert result.attempts == 1 and len(result.worker_ids) == 1
    assert result.errors == []
    assert result.enqueued_at <= result.started_at <= result.last_attempted_at <= result.finished_at
    # A stable id: read again, from the backend and through the task, it is the same result.
    again = task_backends["default"].get_result(result.id)
    assert again.id == result.id and again.return_value == 5 and again.task.func is tasks.add.func
    assert tasks.add.get_result(result.id).status == TaskResultStatus.SUCCESSFUL


def test_arguments_round_trip_as_json(live):
    result = wait_finished(tasks.echo.enqueue(1, "two", [3], key={"nested": (4, 5)}))
    assert result.return_value == {"args": [1, "two", [3]], "kwargs": {"key": {"nested": [4, 5]}}}
    assert result.kwargs == {"key": {"nested": [4, 5]}}


def test_arguments_that_are_not_json_are_refused_at_enqueue(live):
    with pytest.raises(TypeError):
        tasks.echo.enqueue(object())


def test_a_return_value_that_is_not_json_fails_without_retry(live):
    result = wait_finished(tasks.returns_object.enqueue())
    assert result.status == TaskResultStatus.FAILED
    assert result.attempts == 1
    assert "not JSON" in result.errors[0].traceback
    with pytest.raises(ValueError, match="Task failed"):
        result.return_value  # noqa: B018


def test_none_return_value(live):
    result = wait_finished(tasks.noop.enqueue())
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value is None


def test_async_task(live):
    result = wait_finished(tasks.async_add.enqueue(40, 2))
    assert result.return_value == 42


def test_aenqueue_and_aget_result(live):
    async def scenario() -> TaskResult[Any, Any]:
        result = await tasks.add.aenqueue(1, 1)
        deadline = time.monotonic() + 20
        while not result.is_finished:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
            await result.arefresh()
        fetched = await tasks.add.aget_result(result.id)
        assert fetched.return_value == 2
        return result

    assert asyncio.run(scenario()).return_value == 2


def test_takes_context_gives_the_attempt(live):
    result = wait_finished(tasks.attempt_number.enqueue())
    assert result.return_value == {"attempt": 1, "id": result.id}


def test_retried_until_it_succeeds(live):
    tag = f"flaky-{time.monotonic_ns()}"
    result = wait_finished(tasks.flaky.enqueue(tag, 2))
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 3
    assert result.attempts == 3
    assert [e.exception_class for e in result.errors] == [ConnectionError, ConnectionError]
    assert "attempt 2 of" in result.errors[1].traceback
    # Each failed attempt rolled back its writes (ATOMIC): only the third attempt's row is left.
    assert list(TaskEffect.objects.filter(tag=tag).values_list("attempt", flat=True)) == [3]


def test_fails_after_the_bounded_retry_policy(live):
    tag = f"fails-{time.monotonic_ns()}"
    result = wait_finished(tasks.always_fails.enqueue(tag))
    assert result.status == TaskResultStatus.FAILED
    assert result.attempts == 3  # RETRY max_attempts in the test settings
    assert result.errors[-1].exception_class is ValueError
    assert "always fails" in result.errors[-1].traceback
    assert result.finished_at is not None
    assert not TaskEffect.objects.filter(tag=tag).exists()


def test_terminal_exception_fails_at_once(live):
    result = wait_finished(tasks.fails_for_good.enqueue("terminal"))
    assert result.status == TaskResultStatus.FAILED
    assert result.attempts == 1
    assert result.errors[0].exception_class is tasks.Permanent


def test_run_after(live):
    run_after = timezone.now() + timedelta(seconds=1.5)
    result = tasks.add.using(run_after=run_after).enqueue(1, 2)
    time.sleep(0.3)
    result.refresh()
    assert result.status == TaskResultStatus.READY  # visible while it waits
    assert result.task.run_after == run_after
    wait_finished(result)
    assert result.started_at >= run_after


def test_queue_names_are_validated(live):
    assert wait_finished(tasks.on_emails_queue.enqueue()).return_value == "sent"
    assert tasks.on_emails_queue.get_result(tasks.on_emails_queue.enqueue().id).task.queue_name == "emails"
    with pytest.raises(InvalidTask, match="Queue 'nope' is not valid"):
        tasks.add.using(queue_name="nope")


def test_priority_is_refused():
    assert RestateBackend.supports_priority is False
    with pytest.raises(InvalidTask, match="priority"):
        tasks.add.using(priority=10)


def test_unknown_result(live):
    with pytest.raises(TaskResultDoesNotExist):
        task_backends["default"].get_result("no-such-task-result")
    with pytest.raises(TaskResultDoesNotExist):
        task_backends["default"].get_result("")


def test_enqueued_signal(live):
    seen: list[TaskResult[Any, Any]] = []

    def receiver(sender: Any, task_result: TaskResult[Any, Any], **kwargs: Any) -> None:
        seen.append(task_result)

    task_enqueued.connect(receiver)
    try:
        result = tasks.noop.enqueue()
    finally:
        task_enqueued.disconnect(receiver)
    assert [r.id for r in seen] == [result.id]


def test_enqueue_in_a_transaction_waits_for_the_commit(live):
    with transaction.atomic():
        result = tasks.record.enqueue("committed")
        # Only this transaction knows of it (its outbox row); Restate has not been told yet.
        assert task_backends["default"].get_result(result.id).status == TaskResultStatus.READY
        assert OutboxMessage.objects.filter(key=result.id, handler="run").exists()
    assert wait_finished(result).return_value == "committed"


def test_enqueued_while_restate_is_down_is_kept_and_run_later(live):
    """The commit succeeds with Restate unreachable; the task waits in the outbox (READY) until a
    relay delivers it."""
    from django.conf import settings

    down = {**settings.RESTATE, "INGRESS_URL": f"http://127.0.0.1:{free_port()}"}
    with override_settings(RESTATE=down):
        with transaction.atomic():
            result = tasks.record.enqueue("while-down")
        assert task_backends["default"].get_result(result.id).status == TaskResultStatus.READY
        assert asyncio.run(task_backends["default"].aget_result(result.id)).status == TaskResultStatus.READY
    assert OutboxMessage.objects.get(key=result.id).status == OutboxMessage.Status.PENDING
    call_command("restate_relay", "--once", stdout=io.StringIO())
    assert wait_finished(result).return_value == "while-down"
    assert TaskEffect.objects.filter(tag="while-down").count() == 1


def test_enqueue_in_a_rolled_back_transaction_never_runs(live):
    class Rollback(Exception):
        pass

    with pytest.raises(Rollback), transaction.atomic():
        result = tasks.record.enqueue("rolled-back")
        raise Rollback
    assert not OutboxMessage.objects.filter(key=result.id).exists()
    time.sleep(0.5)
    with pytest.raises(TaskResultDoesNotExist):
        task_backends["default"].get_result(result.id)
    assert not TaskEffect.objects.filter(tag="rolled-back").exists()


def test_sync_tasks_run_in_a_transaction_unless_atomic_is_off(live):
    assert wait_finished(tasks.in_transaction.enqueue()).return_value is True
    options = {"OPTIONS": {"ATOMIC": False}}
    with override_settings(TASKS={"default": {"BACKEND": "django_restate.tasks.RestateBackend", **options}}):
        assert wait_finished(tasks.in_transaction.enqueue()).return_value is False


def test_a_start_restate_refused_is_failed(live):
    """The outbox marks a send Restate refused (a 4xx, e.g. DjangoTask not registered after a
    deploy) failed, with Restate's message: the task is FAILED, and says why."""
    from django.conf import settings

    down = {**settings.RESTATE, "INGRESS_URL": f"http://127.0.0.1:{free_port()}"}
    with override_settings(RESTATE=down), transaction.atomic():
        result = tasks.noop.enqueue()
    outbox.flush()  # the fast path's own verdict (pending, to retry) is written down first
    OutboxMessage.objects.filter(key=result.id).update(
        status=OutboxMessage.Status.FAILED, last_error="404: service 'DjangoTask' not found"
    )
    failed = task_backends["default"].get_result(result.id)
    assert failed.status == TaskResultStatus.FAILED
    assert failed.errors[0].exception_class.__name__ == "IngressError"
    assert "service 'DjangoTask' not found" in failed.errors[0].traceback
