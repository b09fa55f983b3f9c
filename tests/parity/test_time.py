"""Sleeps and timeouts: virtual time in the mock, real milliseconds on the server."""

from __future__ import annotations

import pytest

from tests.parity.conftest import awakeable_of
from tests.parity_app.restate_services import ParityTimeline

pytestmark = [pytest.mark.restate_parity, pytest.mark.restate_mock(replay_check=True)]


def test_sleep_takes_its_time(restate_backend, key):
    assert restate_backend.object(ParityTimeline, key).sleep_for(50) >= 0.05


def test_two_sleeps_add_up(restate_backend, key):
    assert restate_backend.object(ParityTimeline, key).sleep_twice(20) >= 0.04


def test_select_returns_the_timeout(restate_backend, key):
    assert restate_backend.object(ParityTimeline, key).awakeable_or_timeout(30) == "timeout"


def test_select_returns_the_value_before_the_timeout(restate_backend, key):
    handle = restate_backend.object(ParityTimeline, key).awakeable_or_timeout.send(60_000)
    restate_backend.resolve_awakeable(awakeable_of(restate_backend, ParityTimeline, key), "quick")
    assert handle.attach() == "value quick"


def test_time_moves_forward(restate_backend, key):
    timeline = restate_backend.object(ParityTimeline, key)
    timeline.mark("one")
    timeline.sleep_for(10)
    timeline.mark("two")
    [[_, first], [_, second]] = timeline.marks()
    assert second - first >= 0.01
