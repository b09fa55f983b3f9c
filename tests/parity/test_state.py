"""State of Virtual Objects: written by exclusive handlers, read by shared ones, JSON round trips."""

from __future__ import annotations

import pytest

from django_restate.exceptions import HandlerError
from tests.parity_app.restate_services import Item, ParityCounter

pytestmark = [pytest.mark.restate_parity, pytest.mark.restate_mock(replay_check=True)]


def test_state_persists_across_calls(restate_backend, key):
    counter = restate_backend.object(ParityCounter, key)
    assert counter.add(2) == 2
    assert counter.add(3) == 5
    assert counter.count() == 5


def test_state_is_per_key(restate_backend, key):
    restate_backend.object(ParityCounter, key).add(4)
    assert restate_backend.object(ParityCounter, key + "-other").count() == 0


def test_missing_state_is_none(restate_backend, key):
    assert restate_backend.object(ParityCounter, key).missing() is True


def test_state_keys_and_values(restate_backend, key):
    counter = restate_backend.object(ParityCounter, key)
    assert counter.set_many({"b": [1, 2], "a": {"x": "y"}, "c": "text"}) == ["a", "b", "c"]
    assert counter.value("a") == {"x": "y"}
    assert counter.value("b") == [1, 2]


def test_clear_one_key(restate_backend, key):
    counter = restate_backend.object(ParityCounter, key)
    counter.set_many({"a": 1, "b": 2})
    # The SDK still lists a key cleared in the same invocation; the next invocation does not.
    assert counter.clear_one("a") == ["a", "b"]
    assert counter.value("a") is None
    assert counter.keys() == ["b"]


def test_clear_all(restate_backend, key):
    counter = restate_backend.object(ParityCounter, key)
    counter.set_many({"a": 1, "b": 2})
    assert counter.clear_everything() == []
    assert restate_backend.state(ParityCounter, key) == {}


def test_state_seen_from_the_test(restate_backend, key):
    restate_backend.object(ParityCounter, key).set_many({"count": 7, "tags": ["x"]})
    assert restate_backend.state(ParityCounter, key) == {"count": 7, "tags": ["x"]}


def test_model_comes_back_as_dict_unless_typed(restate_backend, key):
    result = restate_backend.object(ParityCounter, key).store_model(Item(name="tea", qty=2))
    assert result == {"raw": {"name": "tea", "qty": 2}, "raw_type": "dict", "typed_type": "Item"}


def test_tuple_comes_back_as_list(restate_backend, key):
    assert restate_backend.object(ParityCounter, key).store_tuple() == [1, "two"]


def test_state_written_before_a_terminal_error_is_kept(restate_backend, key):
    counter = restate_backend.object(ParityCounter, key)
    with pytest.raises(HandlerError) as failure:
        counter.set_then_fail(9)
    assert (failure.value.status_code, failure.value.message) == (422, "refused after writing")
    assert counter.count() == 9
