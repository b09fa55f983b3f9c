"""Partition keys computed here agree with a real restate-server, and lookups of one key use them.

Restate's /query reads one partition only when the query names its partition key, so the
instance page and the invocation list of one key name it; these tests hold that to the server.
"""

from __future__ import annotations

from urllib.parse import quote as urlquote

import pytest

from django_restate.admin_api import AdminAPI, get_admin_api, partitions, queries
from django_restate.admin_api.sql import quote
from django_restate.testing.server import RestateServer
from tests.admin_app import fixtures
from tests.admin_app.fixtures import SERVICE

notebooks = fixtures.notebooks


def forget_facts(notebooks, monkeypatch, **facts):
    """What the test's and the pages' admin API clients learnt about the server, replaced by ``facts``."""
    for api in (notebooks.api, get_admin_api()):
        monkeypatch.setattr(api, "facts", dict(facts))


pytestmark = pytest.mark.e2e

#: What keys a user could give an object end with: nothing, unicode, quotes, separators, SQL, length.
#: (A unique start keeps them out of other tests' searches on the same server.)
KEY_ENDINGS = ["", "ünïcødé-🚀", 'it\'s "quoted"', "a/b?c#d %20", "' OR 1=1 --", "x" * 500, " "]


@pytest.mark.parametrize("ending", KEY_ENDINGS)
def test_partition_key_is_the_servers(notebooks, ending):
    key = notebooks.key("pk") + ending
    notebooks.write(urlquote(key, safe=""), n=1)  # the ingress path carries the key URL-quoted
    rows = notebooks.api.query(
        f"SELECT DISTINCT partition_key FROM state WHERE service_name = {quote(SERVICE)} AND service_key = {quote(key)}"
    )
    assert [int(r["partition_key"]) for r in rows] == [partitions.partition_key(key)]
    [invocation] = notebooks.api.query(
        f"SELECT partition_key FROM sys_invocation_status WHERE target_service_key = {quote(key)} LIMIT 1"
    )
    assert int(invocation["partition_key"]) == partitions.partition_key(key)


def test_lookups_of_one_key_name_its_partition(notebooks, monkeypatch):
    key = notebooks.key("one")
    notebooks.write(key, greeting="hello")
    notebooks.write(notebooks.key("other"), greeting="bye")
    sent: list[str] = []
    query = AdminAPI.query
    monkeypatch.setattr(AdminAPI, "query", lambda api, sql: sent.append(sql) or query(api, sql))
    own = f"partition_key = {partitions.partition_key(key)}"

    page = notebooks.client.get(notebooks.instance_url(key))
    assert page.status_code == 200
    assert [e.key for e in page.context["entries"]] == ["greeting"]
    one_key = [
        sql
        for sql in sent
        if sql not in partitions.PROBES and ("FROM state" in sql or "FROM sys_keyed_service_status" in sql)
    ]
    assert len(one_key) == 2 and all(own in sql for sql in one_key)

    sent.clear()
    listing = notebooks.client.get("/admin/django_restate/invocation/", {"service": SERVICE, "key": key})
    assert listing.context["restate_error"] is None
    assert [r["target"] for r in listing.context["rows"]] == [f"{SERVICE}/{key}/write"]
    [listed] = [sql for sql in sent if "ORDER BY created_at DESC" in sql]
    assert own in listed and "sys_invocation_status ss" in listed


def test_a_server_that_keys_differently_is_still_read_right(notebooks, monkeypatch):
    """Should Restate change its hash, lookups fall back to reading every partition."""
    forget_facts(notebooks, monkeypatch)
    monkeypatch.setattr(partitions, "partition_key", lambda key: 12345)
    key = notebooks.key("rehashed")
    notebooks.write(key, greeting="hello")

    assert partitions.narrowing(notebooks.api, key) is None
    page = notebooks.client.get(notebooks.instance_url(key))
    assert [e.key for e in page.context["entries"]] == ["greeting"]
    listing = notebooks.client.get("/admin/django_restate/invocation/", {"service": SERVICE, "key": key})
    assert [r["target"] for r in listing.context["rows"]] == [f"{SERVICE}/{key}/write"]


def test_an_unexpected_view_definition_lists_through_the_view(notebooks, monkeypatch):
    key = notebooks.key("plain")
    notebooks.write(key, greeting="hello")
    forget_facts(notebooks, monkeypatch, **{queries.VIEW_FACT: None})
    listing = notebooks.client.get("/admin/django_restate/invocation/", {"service": SERVICE, "key": key})
    assert [r["target"] for r in listing.context["rows"]] == [f"{SERVICE}/{key}/write"]


def test_the_narrowed_view_has_the_views_columns_and_statuses(notebooks, monkeypatch):
    key = notebooks.key("same")
    notebooks.write(key, greeting="hello")
    notebooks.call(key, "read", "greeting")
    filters = queries.InvocationFilter(service=SERVICE, key=key)
    narrowed = queries.invocations(notebooks.api, filters).rows
    with monkeypatch.context() as patched:
        forget_facts(notebooks, patched, **{queries.VIEW_FACT: None})
        plain = queries.invocations(notebooks.api, filters).rows
    assert len(narrowed) == 2 and narrowed == plain


def test_a_server_that_cannot_answer_the_checks_is_read_without_them(notebooks, monkeypatch):
    """The probes and the view definition fail on a server without those tables: the pages still list."""
    forget_facts(notebooks, monkeypatch)
    monkeypatch.setattr(partitions, "PROBES", ("SELECT service_key AS key, partition_key FROM no_such_table",))
    monkeypatch.setattr(queries, "VIEW_QUERY", "SELECT definition FROM no_such_table")
    key = notebooks.key("oldserver")
    notebooks.write(key, greeting="hello")

    assert partitions.narrowing(notebooks.api, key) is None
    assert queries.one_partition_view(notebooks.api) is None
    listing = notebooks.client.get("/admin/django_restate/invocation/", {"service": SERVICE, "key": key})
    assert listing.context["restate_error"] is None
    assert [r["target"] for r in listing.context["rows"]] == [f"{SERVICE}/{key}/write"]
    page = notebooks.client.get(notebooks.instance_url(key))
    assert [e.key for e in page.context["entries"]] == ["greeting"]


def test_nothing_keyed_yet_means_no_answer_and_no_memory():
    """On an empty server there is nothing to compare with: ask again next time."""
    with RestateServer() as server, AdminAPI(server.admin_url) as api:
        assert partitions.narrowing(api, "anyone") is None
        assert partitions.FACT not in api.facts
