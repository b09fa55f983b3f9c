"""RestateBackend without a server: OPTIONS are checked when the backend is built, the system check
says when the app that runs the tasks is missing, and an attempt's transaction is recorded once."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from django_restate import steps
from django_restate.steps import StepRun
from django_restate.tasks import RestateBackend, execution
from django_restate.tasks.backend import DEFAULT_RETRY
from django_restate.tasks.restate_services import backoff
from django_restate.tasks.results import Job, new_state, to_result
from tests.tasks_app import tasks
from tests.tasks_app.models import TaskEffect


def backend(**options: object) -> RestateBackend:
    return RestateBackend("default", {"OPTIONS": options})


def test_defaults():
    default = backend()
    assert default.retry == DEFAULT_RETRY and DEFAULT_RETRY["max_attempts"] == 3
    assert default.terminal == [] and default.atomic and default.outbox and default.database == "default"
    assert default.queues == {"default"}


def test_unknown_option_is_named():
    with pytest.raises(ImproperlyConfigured, match="unknown key.*RETRIES.*RETRY:"):
        backend(RETRIES=3)


@pytest.mark.parametrize(
    ("retry", "fragment"),
    [
        ({"attempts": 2}, "unknown key"),
        ({"max_attempts": 0}, "whole number >= 1"),
        ({"max_attempts": 2.5}, "whole number >= 1"),
        ({"factor": -1}, "'factor'.*>= 0"),
    ],
)
def test_bad_retry_policy(retry, fragment):
    with pytest.raises(ImproperlyConfigured, match=fragment):
        backend(RETRY=retry)


def test_terminal_exceptions_by_class_or_path():
    assert backend(TERMINAL_EXCEPTIONS=[KeyError, "django.core.exceptions.PermissionDenied"]).terminal == [
        "builtins.KeyError",
        "django.core.exceptions.PermissionDenied",
    ]
    with pytest.raises(ImproperlyConfigured, match="not an exception class"):
        backend(TERMINAL_EXCEPTIONS=["django.utils.timezone.now"])


def test_backoff_grows_to_its_ceiling():
    policy = {**DEFAULT_RETRY, "initial_interval": 1.0, "factor": 2.0, "max_interval": 5.0}
    assert [backoff(policy, n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 5.0]  # type: ignore[arg-type]


def test_check_requires_the_app():
    assert backend().check() == []
    installed = [app for app in settings.INSTALLED_APPS if app != "django_restate.tasks"]
    with override_settings(INSTALLED_APPS=installed):
        (error,) = backend().check()
    assert error.id == "django_restate_tasks.E001"
    assert '"django_restate.tasks"' in error.hint


# -- an attempt that runs again after its transaction committed ------------------------------


@pytest.fixture
def job() -> Job:
    backend = RestateBackend("default", {"OPTIONS": {}})
    return backend._prepare(tasks.record, ["once"], {})[1]


@pytest.mark.django_db
def test_an_attempt_run_again_after_its_commit_returns_the_recorded_outcome(job: Job):
    """What happens when the process dies between COMMIT and Restate journaling the attempt."""
    state = new_state(job)
    first = execution._run_sync(tasks.record, to_result(state), job, 1)
    again = execution._run_sync(tasks.record, to_result(state), job, 1)
    assert first["ok"] and again == first
    assert TaskEffect.objects.filter(tag="once").count() == 1
    # A later attempt is a new run.
    execution._run_sync(tasks.record, to_result(state), job, 2)
    assert TaskEffect.objects.filter(tag="once").count() == 2


@pytest.mark.django_db
def test_without_atomic_an_attempt_run_again_runs_again(job: Job):
    job = {**job, "atomic": False}  # type: ignore[typeddict-item]
    state = new_state(job)
    execution._run_sync(tasks.record, to_result(state), job, 1)
    execution._run_sync(tasks.record, to_result(state), job, 1)
    assert TaskEffect.objects.filter(tag="once").count() == 2


@pytest.mark.django_db
def test_an_attempt_is_recorded_as_a_step_run_of_its_result_id(job: Job):
    """The same record as ``atomic_step(once=True)``'s, pruned with it (``STEP_RETENTION``)."""
    outcome = execution._run_sync(tasks.record, to_result(new_state(job)), job, 1)
    run = StepRun.objects.get()
    assert run.invocation_id == job["id"] and run.name == f"{job['task']} attempt 1"
    assert steps.load(bytes(run.result)) == outcome


@pytest.mark.django_db
def test_a_failed_attempt_rolls_back_and_leaves_no_record(job: Job):
    job = {**job, "task": "tests.tasks_app.tasks.always_fails"}
    outcome = execution._run_sync(tasks.always_fails, to_result(new_state(job)), job, 1)
    assert not outcome["ok"] and outcome["error"] is not None
    assert not StepRun.objects.exists() and not TaskEffect.objects.exists()
