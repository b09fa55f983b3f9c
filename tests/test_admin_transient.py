"""Errors of a Restate cluster that pass within moments (a node down, a partition without a
leader) are retried inside ``admin_api``; an error that stays is the page's only content, never
an empty table that reads as "no data".

The admin API here is a stand-in (``httpx.MockTransport``) that answers the way restate-server
1.7.12 answered in a three-node cluster right after a node was killed.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from django_restate.admin_api import AdminAPI, AdminAPIError, client
from django_restate.admin_views import base

THROTTLED = "Datafusion error: External error: Failed to connect to node N2: connect throttled"
NO_LEADER = "node lookup for partition 7 failed"
STATE_ROWS = [{"service_name": "Cart", "service_key": "alice", "partition_key": 1, "entries": 2, "size": 30}]


class FakeAdmin:
    """An admin API whose ``/query`` fails with ``errors`` (in turn, the last one for good) before answering."""

    def __init__(self, errors: list[str], rows: list[dict] | None = None, fail_for_good: bool = False) -> None:
        self.errors = list(errors)
        self.rows = rows if rows is not None else STATE_ROWS
        self.fail_for_good = fail_for_good
        self.queries = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/services":
            return httpx.Response(200, json={"services": [{"name": "Cart", "ty": "VirtualObject"}]})
        if request.url.path == "/query":
            self.queries += 1
            if self.errors:
                message = self.errors[0] if self.fail_for_good else self.errors.pop(0)
                return httpx.Response(500, json={"message": message})
            sql = json.loads(request.content)["query"]
            return httpx.Response(200, json={"rows": self.rows if "GROUP BY" in sql else []})
        return httpx.Response(404, json={"message": "not here"})

    def api(self) -> AdminAPI:
        return AdminAPI("http://restate.test:9070", transport=httpx.MockTransport(self))


@pytest.fixture
def quick_retries(monkeypatch):
    monkeypatch.setattr(client, "QUERY_RETRY_PAUSE", 0.01)
    monkeypatch.setattr(client, "QUERY_RETRY_FOR", 0.3)


def serve(monkeypatch, fake: FakeAdmin) -> Callable[[], AdminAPI]:
    api = fake.api()
    monkeypatch.setattr(base, "get_admin_api", lambda: api)
    return lambda: api


@pytest.mark.parametrize("message", [THROTTLED, NO_LEADER, "Partition 3 is Unavailable"])
def test_a_transient_query_error_is_retried_and_the_rows_come_back(quick_retries, message):
    fake = FakeAdmin([message, message])
    assert fake.api().query("SELECT 1 FROM state GROUP BY 1") == STATE_ROWS
    assert fake.queries == 3


def test_any_other_query_error_is_raised_at_once(quick_retries):
    fake = FakeAdmin(["Error during planning: table 'nope' not found"])
    with pytest.raises(AdminAPIError, match="not found"):
        fake.api().query("SELECT * FROM nope")
    assert fake.queries == 1


def test_a_transient_error_that_stays_is_raised_not_turned_into_no_rows(quick_retries):
    fake = FakeAdmin([THROTTLED], fail_for_good=True)
    with pytest.raises(AdminAPIError, match="connect throttled"):
        fake.api().query("SELECT 1 FROM state GROUP BY 1")
    assert fake.queries > 2


def test_the_state_list_rides_out_a_node_going_down(admin_client, monkeypatch, quick_retries):
    serve(monkeypatch, FakeAdmin([THROTTLED, NO_LEADER]))
    response = admin_client.get("/admin/django_restate/state/")
    assert response.status_code == 200
    assert response.context["restate_error"] is None
    assert [row["service_key"] for row in response.context["rows"]] == ["alice"]


@pytest.mark.parametrize(
    "url",
    [
        "/admin/django_restate/state/",
        "/admin/django_restate/state/instance/?service=Cart&key=alice",
        "/admin/django_restate/invocation/",
        "/admin/django_restate/invocation/inv_1aaaaaaaaaaaaaaaaaaaaaa/",
    ],
)
def test_an_error_that_stays_is_the_only_thing_on_the_page(admin_client, monkeypatch, quick_retries, url):
    serve(monkeypatch, FakeAdmin([THROTTLED], fail_for_good=True))
    response = admin_client.get(url)
    assert response.status_code == 200
    assert "connect throttled" in response.context["restate_error"]
    html = response.content.decode()
    assert 'class="errornote restate-banner"' in html
    for made_up in ('id="result_list"', "No Virtual Object", "No invocations", "State version", "no state", "free"):
        assert made_up not in html, made_up
