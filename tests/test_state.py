"""django_restate.state: the one decoder of state bytes, and the state version Restate checks."""

from __future__ import annotations

import base64
import json

import pytest

from django_restate.state import (
    EMPTY_STATE_VERSION,
    decode_value,
    encode_base64,
    encode_json,
    encode_value,
    entries_from_rows,
    state_version,
)
from django_restate.testing import eventually
from tests.admin_app import fixtures
from tests.admin_app.fixtures import SERVICE

notebooks = fixtures.notebooks


def test_json_is_pretty_printed_and_edited_as_json():
    value = decode_value(b'{"apple": 2, "name": "\xc3\xa9"}')
    assert value.kind == "json"
    assert value.text == '{\n  "apple": 2,\n  "name": "é"\n}'
    assert value.encoding == "json"
    assert value.editable_text == value.text
    assert value.readable() == {"apple": 2, "name": "é"}


def test_text_that_is_not_json_is_shown_as_text():
    value = decode_value(b"hello world")
    assert (value.kind, value.text, value.encoding) == ("text", "hello world", "text")


@pytest.mark.parametrize(
    "raw",
    [b"\xff\xfe\x00\x01", b"\x80", b"abc\x00def", b"\x1b[31mred", bytes(range(256))],
    ids=["invalid-utf8", "lone-continuation", "nul", "escape", "all-bytes"],
)
def test_bytes_that_are_not_text_are_shown_as_hex_and_base64(raw):
    value = decode_value(raw)
    assert value.kind == "binary"
    assert value.text == raw.hex()
    assert base64.b64decode(value.base64) == raw
    assert value.encoding == "base64"
    assert encode_value(value.editable_text, value.encoding) == raw


def test_hostile_json_never_raises():
    deep = b"[" * 100_000 + b"]" * 100_000
    assert decode_value(deep).kind == "text"
    assert decode_value(b"NaN").kind == "text"  # not JSON outside Python
    assert decode_value(b"").kind == "empty"
    surrogate = decode_value(b'"\\ud800"')  # valid JSON, but not encodable as UTF-8
    assert surrogate.kind == "json" and surrogate.text.encode("utf-8") == b'"\\ud800"'


def test_encode_json_stores_what_the_sdk_would():
    assert encode_json('{"apple":   2}') == json.dumps({"apple": 2}).encode()
    assert encode_json('"x"') == b'"x"'


@pytest.mark.parametrize("text", ["{", "{'a': 1}", "NaN", "[1, Infinity]", "", "[" * 100_000])
def test_encode_json_rejects_what_is_not_json_with_a_message(text):
    with pytest.raises(ValueError, match="JSON"):
        encode_json(text)


def test_encode_base64_and_text():
    assert encode_base64("AP8=\n") == b"\x00\xff"
    with pytest.raises(ValueError, match="base64"):
        encode_base64("not base64!")
    assert encode_value("héllo", "text") == "héllo".encode()


def test_entries_from_query_rows_decode_hex_and_missing_values():
    rows = [{"key": "a", "value": "7b7d"}, {"key": "b"}]
    assert entries_from_rows(rows) == {"a": b"{}", "b": b""}


def test_version_of_empty_state_is_restates():
    assert state_version({}) == EMPTY_STATE_VERSION


def test_version_depends_on_every_key_and_value_but_not_order():
    a = state_version({"x": b"1", "y": b"2"})
    assert a == state_version({"y": b"2", "x": b"1"})
    assert a != state_version({"x": b"1", "y": b"3"})
    assert a != state_version({"x": b"1", "z": b"2"})
    assert a != state_version({"x": b"1"})


@pytest.mark.e2e
def test_version_matches_the_servers(notebooks):
    """Restate applies a write carrying the version we compute, and drops one carrying another."""
    key = notebooks.key()
    notebooks.write(key, items={"apple": 2}, note="n", **{"ünï": [1, 2]})
    current = notebooks.state(key)
    api = notebooks.api

    api.replace_state(SERVICE, key, {"items": list(b"[]")}, state_version({**current, "note": b'"other"'}))
    api.replace_state(SERVICE, key, {"items": list(b'{"pear": 1}')}, state_version(current))

    def replaced() -> dict[str, bytes]:
        state = notebooks.state(key)
        assert state and state != current, "the second replace is not applied yet"
        return state

    assert eventually(replaced, 30) == {"items": b'{"pear": 1}'}
    assert notebooks.call(key, "read", "items") == {"pear": 1}
