"""Property-based fuzzing of the two places hostile bytes meet our code first: the payload
decoder and the SQL quoting for the admin API's ``/query``."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from restate.exceptions import TerminalError

from django_restate.admin_api import AdminAPI
from django_restate.admin_api.sql import MAX_LITERAL, quote
from django_restate.serde import TypedJsonSerde
from django_restate.testing.server import RestateServer
from tests.reliability_app.restate_services import FailPlan, Line

ANNOTATIONS: list[Any] = [int, str, float, bool, Line, FailPlan, dict[str, Any], list[int], Any, int | None]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30,
)


def mangled(data: st.DataObject, raw: bytes) -> bytes:
    """Cut, splice or flip one byte of an otherwise valid document."""
    if not raw:
        return raw
    at = data.draw(st.integers(0, len(raw) - 1))
    how = data.draw(st.sampled_from(["cut", "flip", "insert"]))
    if how == "cut":
        return raw[:at]
    if how == "flip":
        return raw[:at] + bytes([raw[at] ^ data.draw(st.integers(1, 255))]) + raw[at + 1 :]
    return raw[:at] + data.draw(st.binary(min_size=1, max_size=4)) + raw[at:]


def decodes_or_refuses_with_400(annotation: Any, payload: bytes) -> None:
    try:
        TypedJsonSerde(annotation).deserialize(payload)
    except TerminalError as exc:
        assert exc.status_code == 400, exc
        assert len(exc.message) < 2000  # never echoes a huge input back


@pytest.mark.parametrize("annotation", ANNOTATIONS, ids=repr)
@settings(max_examples=100, deadline=None)
@given(payload=st.binary(max_size=300))
@example(payload=b"\xff\xfe\xfd")
@example(payload=b"[" * 5000)
@example(payload=b"9" * 5000)
@example(payload=b'"\\ud800"')
def test_any_bytes_decode_or_fail_with_400(annotation: Any, payload: bytes):
    decodes_or_refuses_with_400(annotation, payload)


@pytest.mark.parametrize("annotation", ANNOTATIONS, ids=repr)
@settings(max_examples=80, deadline=None)
@given(value=json_values, data=st.data())
def test_near_valid_json_decodes_or_fails_with_400(annotation: Any, value: Any, data: st.DataObject):
    raw = json.dumps(value).encode()  # NaN and Infinity included, as some clients send them
    decodes_or_refuses_with_400(annotation, raw)
    decodes_or_refuses_with_400(annotation, mangled(data, raw))


@pytest.fixture(scope="module")
def admin(restate_server: RestateServer):
    with AdminAPI(restate_server.admin_url) as api:
        yield api


HOSTILE = [
    "'",
    "''",
    "\\",
    "\\'",
    "' OR '1'='1",
    "'; DROP TABLE state; --",
    "\x00",
    "a\x00'b",
    "😀",
    "\u2028",
    "%s",
    "$1",
]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=200) | st.sampled_from(HOSTILE) | st.text(alphabet="'\\\"\x00;-\n%$", max_size=40))
def test_quoted_literal_round_trips_through_the_real_query_api(admin: AdminAPI, text: str):
    assert admin.query(f"SELECT {quote(text)} AS v") == [{"v": text}]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.sampled_from(HOSTILE) | st.text(alphabet="'\\ OR1=;-", max_size=30))
def test_quoted_filter_never_escapes_its_literal(admin: AdminAPI, text: str):
    """Used as a filter, hostile text matches nothing instead of changing the statement."""
    rows = admin.query(f"SELECT count(*) AS n FROM sys_deployment WHERE id = {quote(text)}")
    assert rows == [{"n": 0}]


def test_quote_refuses_what_it_cannot_quote():
    with pytest.raises(ValueError, match="at most"):
        quote("x" * (MAX_LITERAL + 1))
    with pytest.raises(TypeError, match="pass a str, int, bool or None"):
        quote(b"bytes")  # type: ignore[arg-type]
