"""A workflow's durable promises on its instance page, read from a real restate-server."""

from __future__ import annotations

import httpx
import pytest

from django_restate.admin_api import queries
from django_restate.testing import eventually
from tests.admin_app import fixtures

notebooks = fixtures.notebooks

pytestmark = pytest.mark.e2e
WORKFLOW = "AdminApproval"


def start(notebooks, workflow_id: str) -> None:
    ingress = notebooks.live.ingress_url
    httpx.post(f"{ingress}/{WORKFLOW}/{workflow_id}/run/send", json="ship it", timeout=30).raise_for_status()

    def stored() -> None:
        assert queries.state(notebooks.api, WORKFLOW, workflow_id), "the workflow has not stored its state yet"

    eventually(stored, 30)


def decide(notebooks, workflow_id: str, handler: str, body: object) -> None:
    ingress = notebooks.live.ingress_url
    httpx.post(f"{ingress}/{WORKFLOW}/{workflow_id}/{handler}", json=body, timeout=30).raise_for_status()


def promises_on_page(notebooks, workflow_id: str) -> dict[str, dict]:
    response = notebooks.client.get(f"/admin/django_restate/state/instance/?service={WORKFLOW}&key={workflow_id}")
    assert response.status_code == 200 and response.context["restate_error"] is None
    return {p["name"]: p for p in response.context["promises"]}


def test_a_resolved_promise_shows_its_value(notebooks):
    workflow_id = notebooks.key("approved")
    start(notebooks, workflow_id)
    assert promises_on_page(notebooks, workflow_id).get("decision", {"status": "pending"})["status"] == "pending"

    decide(notebooks, workflow_id, "approve", True)
    decision = promises_on_page(notebooks, workflow_id)["decision"]
    assert decision["status"] == "resolved" and decision["value"].text == "true" and not decision["failure"]
    page = notebooks.client.get(f"/admin/django_restate/state/instance/?service={WORKFLOW}&key={workflow_id}")
    assert 'data-name="decision"' in page.content.decode()


def test_a_rejected_promise_shows_why(notebooks):
    workflow_id = notebooks.key("refused")
    start(notebooks, workflow_id)
    decide(notebooks, workflow_id, "refuse", "over budget <b>")
    decision = promises_on_page(notebooks, workflow_id)["decision"]
    assert decision["status"] == "rejected" and decision["value"] is None
    assert "over budget <b>" in decision["failure"]
    page = notebooks.client.get(f"/admin/django_restate/state/instance/?service={WORKFLOW}&key={workflow_id}")
    assert "over budget &lt;b&gt;" in page.content.decode()


def test_a_virtual_object_has_no_promises_section(notebooks):
    key = notebooks.key()
    notebooks.write(key, a=1)
    response = notebooks.client.get(notebooks.instance_url(key))
    assert response.context["promises"] == [] and 'id="restate-promises"' not in response.content.decode()
