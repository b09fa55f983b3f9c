"""The overview page of the Restate section, on a real restate-server."""

from __future__ import annotations

import pytest
from django.test import override_settings

from tests.admin_app import fixtures

notebooks = fixtures.notebooks
pytestmark = pytest.mark.e2e
OVERVIEW = "/admin/django_restate/overview/"


def test_overview_counts_per_status_and_service_and_shows_what_fails_now(notebooks):
    key = notebooks.key()
    notebooks.write(key, a=1)
    failing = notebooks.send(key, "stumble", "the printer is on fire")
    notebooks.wait_for_status(failing, "backing-off")
    page = notebooks.client.get(OVERVIEW)
    assert page.status_code == 200 and page.context["restate_error"] is None
    statuses = {s["status"]: s["count"] for s in page.context["statuses"]}
    assert statuses["backing-off"] >= 1 and statuses["succeeded"] >= 1
    assert page.context["total"] == sum(statuses.values())
    notebook = next(s for s in page.context["services"] if s["name"] == "AdminNotebook")
    assert notebook["trouble"] >= 1 and notebook["counts"]["succeeded"] >= 1
    [shown] = [row for row in page.context["failing"] if row["id"] == failing]
    assert "the printer is on fire" in shown["last_failure"]
    html = page.content.decode()
    assert "the printer is on fire" in html and f"/admin/django_restate/invocation/{failing}/" in html
    assert page.context["health"]["ids"] and "/ui/" in page.context["restate_ui"]
    notebooks.client.post(f"/admin/django_restate/invocation/{failing}/kill/", {"confirmed": "yes"})


def test_overview_says_when_this_projects_deployment_is_not_registered(notebooks):
    settings = {**notebooks.live.settings(), "DEPLOYMENT_URL": "http://127.0.0.1:9/restate"}
    with override_settings(RESTATE=settings):
        page = notebooks.client.get(OVERVIEW)
    assert page.context["health"]["ids"] == []
    assert "not registered" in page.content.decode()


def test_while_nothing_fails_the_page_makes_no_second_scan(notebooks, monkeypatch):
    from django_restate.admin_api import AdminAPI
    from django_restate.admin_views import overview

    queried: list[str] = []
    real_query = AdminAPI.query

    def spy(self, sql, *args, **kwargs):
        queried.append(sql)
        return real_query(self, sql, *args, **kwargs)

    monkeypatch.setattr(overview, "counts", lambda api: {"per_status": {"succeeded": 3}, "per_service": {}})
    monkeypatch.setattr(AdminAPI, "query", spy)
    page = notebooks.client.get(OVERVIEW)
    assert page.status_code == 200 and page.context["failing"] == []
    assert overview.FAILING_SQL not in queried
