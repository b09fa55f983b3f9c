"""Django Tasks on Restate through faults: ``kill -9`` of the Django process that runs the tasks
while 500 are in flight, and a task enqueued by a management command whose result the web
process reads. Both processes are real subprocesses, as in production."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from django.test import override_settings

from django_restate.admin_api import AdminAPI
from django_restate.deployments import register
from django_restate.tasks.compat import TaskResultStatus, task_backends
from django_restate.testing.server import RestateServer
from tests.tasks_app import tasks
from tests.tasks_app.models import TaskEffect

from .harness import ROOT, SETTINGS, DjangoProcess

pytestmark = pytest.mark.e2e

TASKS = 500


def restate_env(restate: RestateServer) -> dict[str, str]:
    return {"RESTATE_INGRESS_URL": restate.ingress_url, "RESTATE_ADMIN_URL": restate.admin_url}


@pytest.fixture(scope="module")
def django_server(
    restate: RestateServer, django_db_setup: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DjangoProcess]:
    """The reliability suite's uvicorn subprocess, told where Restate's ingress is so that its
    views can read task results."""
    from django.db import connection

    log = tmp_path_factory.mktemp("uvicorn") / "uvicorn.log"
    with DjangoProcess(connection.settings_dict["NAME"], log, env=restate_env(restate)) as process:
        with AdminAPI(restate.admin_url) as admin:
            register(admin, process.deployment_url)
        yield process


@pytest.fixture
def pointed_at(live: DjangoProcess, restate: RestateServer) -> Iterator[DjangoProcess]:
    """``live``, with this test process's client pointed at the module's restate-server."""
    from django.conf import settings

    conf = {**settings.RESTATE, "INGRESS_URL": restate.ingress_url, "ADMIN_URL": restate.admin_url}
    with override_settings(RESTATE=conf):
        yield live


def wait_until(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def test_kill_9_django_with_500_tasks_in_flight(pointed_at: DjangoProcess, run_id: str, capsys):
    """Every task's side effect (a row, deliberately not idempotent) happens exactly once."""
    tags = [f"{run_id}-{i}" for i in range(TASKS)]
    results = [tasks.record.enqueue(tag, 0.02) for tag in tags]
    rows = TaskEffect.objects.filter(tag__startswith=run_id)
    wait_until(lambda: rows.count() >= 100, 60, "100 tasks to commit")
    pointed_at.kill()
    done_at_kill = rows.count()
    assert done_at_kill < TASKS, "every task had finished before the kill; nothing was in flight"
    time.sleep(1.0)  # Restate keeps retrying the invocations against a dead port meanwhile
    pointed_at.start()
    backend = task_backends["default"]
    try:
        wait_until(lambda: rows.count() >= TASKS, 120, f"{TASKS} tasks to commit")
    except TimeoutError:
        states = [backend.get_result(r.id) for r in results]
        failed = [r for r in states if r.errors][:3]
        detail = [(r.status, r.attempts, [e.traceback[-300:] for e in r.errors]) for r in failed]
        raise AssertionError(
            f"{rows.count()} committed; {Counter(r.status for r in states)}; {detail}\n{pointed_at.log_tail()}"
        ) from None

    def all_successful() -> bool:
        return all(backend.get_result(r.id).status == TaskResultStatus.SUCCESSFUL for r in results)

    wait_until(all_successful, 60, "every result to be SUCCESSFUL")
    time.sleep(1.0)  # anything that would run twice has had time to
    assert Counter(rows.values_list("tag", flat=True)) == Counter(tags)
    final = [backend.get_result(r.id) for r in results]
    assert [r.return_value for r in final] == tags
    assert all(r.errors == [] for r in final), "a task failed an attempt (the kill is not the task's failure)"
    with capsys.disabled():
        print(
            f"\n[reliability] kill -9 Django with {TASKS - done_at_kill} of {TASKS} tasks not yet committed: "
            f"{TASKS}/{TASKS} side effects exactly once after the restart"
        )


def test_enqueued_from_a_management_command_read_from_the_web_process(pointed_at: DjangoProcess, restate):
    from django.db import connection

    env = {
        **os.environ,
        **restate_env(restate),
        "DJANGO_SETTINGS_MODULE": SETTINGS,
        "RELIABILITY_DATABASE_NAME": connection.settings_dict["NAME"],
        "PYTHONPATH": str(ROOT),
    }
    command = [sys.executable, "-m", "django", "enqueue_add", "20", "22"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True)
    result_id = done.stdout.strip()
    assert len(result_id) == 32, done.stdout + done.stderr

    with httpx.Client(base_url=pointed_at.url, timeout=30) as web:

        def successful() -> bool:
            answer = web.get(f"/tasks/{result_id}/")
            return answer.status_code == 200 and answer.json()["status"] == "SUCCESSFUL"

        wait_until(successful, 30, "the web process to report the task SUCCESSFUL")
        body = web.get(f"/tasks/{result_id}/").json()
    assert body["return_value"] == 42
    assert body["task"] == "tests.tasks_app.tasks.add"
    # Run by the Django process that serves the endpoint, not by the command or a worker.
    assert [worker.rsplit(":", 1)[1] for worker in body["worker_ids"]] == [str(pointed_at.pid)]
