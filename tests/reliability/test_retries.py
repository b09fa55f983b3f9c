"""Transient errors are retried until the handler recovers; a TerminalError stops at once, and
its status code reaches both the caller and the admin API."""

from __future__ import annotations

import httpx
import pytest

from django_restate.admin_api import AdminAPI
from django_restate.admin_api.sql import quote
from django_restate.testing.server import RestateServer
from tests.reliability_app.models import AttemptCount

from .harness import DjangoProcess

pytestmark = pytest.mark.e2e


def invocation_row(restate: RestateServer, invocation_id: str) -> dict:
    with AdminAPI(restate.admin_url) as admin:
        [row] = admin.query(
            "SELECT status, completion_result, completion_failure FROM sys_invocation "
            f"WHERE id = {quote(invocation_id)}"
        )
    return row


def test_flaky_handler_recovers_by_retry(live: DjangoProcess, restate: RestateServer, run_id: str):
    name = f"flaky-{run_id}"
    response = httpx.post(f"{restate.ingress_url}/ReliabilityFlaky/run", json={"name": name, "failures": 3}, timeout=30)
    assert response.status_code == 200, response.text
    assert response.json() == 4  # three failed attempts, the fourth succeeded
    assert AttemptCount.objects.get(name=name).attempts == 4
    row = invocation_row(restate, response.headers["x-restate-id"])
    assert (row["status"], row["completion_result"]) == ("completed", "success"), row


@pytest.mark.parametrize("status", [409, 422, 503])
def test_terminal_error_stops_at_once(
    live: DjangoProcess, restate: RestateServer, run_id: str, status: int, admin_client, settings
):
    name = f"failing-{run_id}"
    response = httpx.post(f"{restate.ingress_url}/ReliabilityFailing/run", json={"name": name, "status": status})
    # The caller sees the handler's status code and message ...
    assert response.status_code == status, response.text
    assert f"{name} refused (attempt 1)" in response.json()["message"]
    # ... the admin API reports the invocation completed with the failure and the same code, so
    # Restate will not retry it later ...
    row = invocation_row(restate, response.headers["x-restate-id"])
    assert (row["status"], row["completion_result"]) == ("completed", "failure"), row
    assert f"[{status}]" in row["completion_failure"], row
    # ... and the handler ran once.
    assert AttemptCount.objects.get(name=name).attempts == 1
    # The Django admin's invocation page shows it too.
    settings.RESTATE = {**settings.RESTATE, "ADMIN_URL": restate.admin_url}
    page = admin_client.get(f"/admin/django_restate/invocation/{response.headers['x-restate-id']}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "failure" in html and f"[{status}]" in html and f"{name} refused (attempt 1)" in html
