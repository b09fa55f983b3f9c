"""django_restate.admin_api.sql.quote, the one function that puts values into /query SQL, against a real
restate-server: hostile text comes back unchanged and matches nothing it should not."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from django_restate.admin_api import AdminAPI
from django_restate.admin_api.sql import MAX_LITERAL, identifier, quote
from tests.admin_app import fixtures
from tests.admin_app.fixtures import SERVICE

notebooks = fixtures.notebooks

HOSTILE = [
    "' OR 1=1 --",
    "' OR '1'='1",
    "'; DROP TABLE state; --",
    "a'b",
    "''",
    "'",
    "\\",
    "\\'",
    "\\' OR 1=1 --",
    "--",
    ";",
    "/* comment */",
    "%",
    "_",
    "$$ dollar $$",
    '"double"',
    "`back`",
    "ünïcødé ✓ 🚀 中文",
    "\u2028\u2029",
    "a\x00b",
    "\x00",
    "\n\r\t",
    "x" * MAX_LITERAL,
]


@pytest.fixture(scope="module")
def api(restate_server):
    with AdminAPI(restate_server.admin_url) as client:
        yield client


@pytest.mark.e2e
@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_values_round_trip_and_match_nothing(api, value):
    assert api.query(f"SELECT {quote(value)} AS v") == [{"v": value}]
    assert api.query(f"SELECT service_key FROM state WHERE service_key = {quote(value)}") == []
    assert api.query(f"SELECT id FROM sys_invocation WHERE target_service_key = {quote(value)}") == []


@pytest.mark.e2e
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=200))
def test_any_text_round_trips(api, value):
    assert api.query(f"SELECT {quote(value)} AS v") == [{"v": value}]


def test_too_long_values_are_refused_not_truncated():
    with pytest.raises(ValueError, match="too long"):
        quote("x" * (MAX_LITERAL + 1))


def test_numbers_and_null():
    assert quote(None) == "NULL"
    assert quote(True) == "TRUE"
    assert quote(18_446_744_073_709_551_615) == "18446744073709551615"
    with pytest.raises(TypeError):
        quote(1.5)  # type: ignore[arg-type]


def test_identifiers_accept_only_plain_names():
    assert identifier("service_key") == "service_key"
    for bad in ["a b", "a;b", "a'--", "", "1a", "a\x00"]:
        with pytest.raises(ValueError):
            identifier(bad)


@pytest.mark.e2e
@pytest.mark.parametrize("value", ["' OR 1=1 --", "\\'; --", "a\x00b", "ünï ✓"])
def test_admin_searches_with_hostile_text_find_nothing_and_error_nowhere(notebooks, value):
    key = notebooks.key()
    notebooks.write(key, items={"apple": 1})
    client = notebooks.client
    pages = [
        ("/admin/django_restate/state/", {"service": SERVICE, "key_prefix": value}),
        ("/admin/django_restate/state/", {"key_prefix": value}),
        ("/admin/django_restate/invocation/", {"key": value}),
        ("/admin/django_restate/invocation/", {"handler": value, "service": SERVICE}),
        ("/admin/django_restate/state/instance/", {"service": SERVICE, "key": value}),
        ("/admin/django_restate/invocation/" + value.replace("/", "") + "/", {}),
    ]
    for url, params in pages:
        response = client.get(url, params)
        assert response.status_code in (200, 404), (url, params)
        assert not response.context.get("restate_error"), (url, params, response.context.get("restate_error"))
        assert not response.context.get("rows") and not response.context.get("entries"), (url, params)


@pytest.mark.e2e
def test_overlong_search_is_a_form_error_not_a_failed_query(notebooks):
    response = notebooks.client.get("/admin/django_restate/state/", {"key_prefix": "x" * (MAX_LITERAL + 10)})
    assert response.status_code == 200
    assert response.context["form"].errors and not response.context["restate_error"]
