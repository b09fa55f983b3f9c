"""``django_restate.testing.eventually``: the one way the package, the tests and the benches wait."""

from __future__ import annotations

import asyncio
import time

import pytest

from django_restate.testing import aeventually, eventually


class Countdown:
    """A check that fails ``failures`` times, then returns how often it was called."""

    def __init__(self, failures: int, error: type[BaseException] = AssertionError) -> None:
        self.failures, self.error, self.calls = failures, error, 0

    def __call__(self) -> int:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error(f"not yet ({self.calls})")
        return self.calls


def test_returns_what_the_check_returns_once_it_passes():
    check = Countdown(3)
    assert eventually(check, timeout=5, interval=0.001) == 4
    assert check.calls == 4


def test_a_check_that_passes_at_once_is_called_once_and_does_not_sleep():
    check = Countdown(0)
    started = time.monotonic()
    assert eventually(check, timeout=5, interval=10) == 1
    assert time.monotonic() - started < 1


def test_after_the_timeout_the_last_failure_is_raised_with_a_note():
    check = Countdown(10**9)
    started = time.monotonic()
    with pytest.raises(AssertionError, match=r"not yet \(\d+\)") as raised:
        eventually(check, timeout=0.2, interval=0.01)
    assert 0.2 <= time.monotonic() - started < 2
    assert check.calls > 2
    assert raised.value.__notes__ == ["(still failing after eventually() waited 0.2s)"]


def test_other_errors_propagate_at_once():
    check = Countdown(1, error=KeyError)
    with pytest.raises(KeyError):
        eventually(check, timeout=5, interval=0.001)
    assert check.calls == 1


def test_retry_on_names_what_means_not_yet():
    check = Countdown(2, error=ConnectionError)
    assert eventually(check, timeout=5, interval=0.001, retry_on=(AssertionError, ConnectionError)) == 3


def test_aeventually_awaits_async_checks_and_sleeps_without_blocking_the_loop():
    ticks: list[int] = []

    async def ticker() -> None:
        while True:
            ticks.append(1)
            await asyncio.sleep(0.005)

    async def scenario() -> int:
        task = asyncio.create_task(ticker())
        check = Countdown(5)

        async def async_check() -> int:
            return check()

        try:
            return await aeventually(async_check, timeout=5, interval=0.01)
        finally:
            task.cancel()

    assert asyncio.run(scenario()) == 6
    assert len(ticks) > 2  # the loop ran other tasks while aeventually waited


def test_aeventually_raises_the_last_failure_after_the_timeout():
    with pytest.raises(AssertionError, match="not yet") as raised:
        asyncio.run(aeventually(Countdown(10**9), timeout=0.05, interval=0.01))
    assert raised.value.__notes__ == ["(still failing after aeventually() waited 0.05s)"]


def test_a_check_that_returns_false_means_not_yet():
    """A condition written as it reads (``lambda: x == 1``) waits until it holds, instead of
    passing at once whatever it found."""
    answers = iter([False, False, True])
    assert eventually(lambda: next(answers), timeout=5, interval=0.001) is True
    with pytest.raises(AssertionError, match="returned False") as raised:
        eventually(lambda: False, timeout=0.05, interval=0.01)
    assert raised.value.__notes__ == ["(still failing after eventually() waited 0.05s)"]
    assert eventually(lambda: 0, timeout=5) == 0  # only False itself: falsy values are results


def test_false_means_not_yet_whatever_retry_on_names():
    answers = iter([False, True])
    assert eventually(lambda: next(answers), timeout=5, interval=0.001, retry_on=ConnectionError) is True


def test_aeventually_waits_on_false_too():
    answers = iter([False, True])

    async def check() -> bool:
        return next(answers)

    assert asyncio.run(aeventually(check, timeout=5, interval=0.001)) is True


def test_the_mocks_eventually_runs_what_is_queued_until_a_condition_holds(restate_mock):
    from demo_project.shop.restate_services import Greeter

    greeted = restate_mock.client.service(Greeter).greet.send("Ada")
    restate_mock.eventually(lambda: greeted.output() == "Hello, Ada! (3 letters)")
    with pytest.raises(AssertionError, match="returned False"):
        restate_mock.eventually(lambda: False, timeout=1)
