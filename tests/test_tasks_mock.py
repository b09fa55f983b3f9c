"""Code that enqueues Django tasks on RestateBackend is unit-testable with ``restate_mock``: the
backend sends through the project's client, so under the mock the ``DjangoTask`` workflow runs in
the test's transaction when the test drains, and ``get_result`` reads its state from the mock."""

from __future__ import annotations

from asgiref.sync import async_to_sync
from django.db import transaction

from django_restate.tasks.compat import TaskResultStatus
from django_restate.testing import MockRestate
from tests.tasks_app import tasks
from tests.tasks_app.models import TaskEffect


def test_an_enqueued_task_runs_when_the_test_drains(restate_mock: MockRestate):
    result = tasks.add.enqueue(2, 3)
    assert result.status == TaskResultStatus.READY
    assert restate_mock.pending_sends()
    restate_mock.drain()
    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 5
    assert tasks.add.get_result(result.id).return_value == 5


def test_a_task_enqueued_in_a_transaction_runs_after_the_commit(restate_mock: MockRestate):
    with transaction.atomic():
        result = tasks.record.enqueue("mocked")
    restate_mock.drain()
    assert result.refresh() is None and result.status == TaskResultStatus.SUCCESSFUL
    assert TaskEffect.objects.filter(tag="mocked").count() == 1


def test_a_failing_task_is_retried_on_the_virtual_clock_and_fails(restate_mock: MockRestate):
    result = tasks.always_fails.enqueue("mock-fails")
    restate_mock.drain()  # the back-off between attempts is virtual time: it takes none
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert len(result.errors) == 3  # tests/settings.py: max_attempts 3
    assert result.errors[0].exception_class_path == "builtins.ValueError"


def test_aenqueue_under_the_mock(transactional_db: None, restate_mock: MockRestate):
    """Async test code: its sync work runs in a worker thread, so the test commits for real
    (``transactional_db``, as docs/testing.md says)."""

    async def enqueue_drain_and_read() -> object:
        result = await tasks.async_add.aenqueue(1, 2)
        await restate_mock.adrain()
        await result.arefresh()
        return result.return_value

    assert async_to_sync(enqueue_drain_and_read)() == 3
