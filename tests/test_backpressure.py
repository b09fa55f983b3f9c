"""Backpressure (``RESTATE["BACKPRESSURE"]``): a send waits while this process's endpoint runs
the limit of invocation attempts, one waiting send going per attempt that finishes."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

import pytest
from django.conf import settings
from django.test import override_settings
from restate.server_context import _restate_context_var

from demo_project.shop.restate_services import Greeter
from django_restate import backpressure as backpressure_module
from django_restate.backpressure import Backpressure, backpressure, counted_attempt
from django_restate.client import client
from django_restate.conf import DEFAULTS
from django_restate.testing import eventually
from tests.runtime_app.restate_services import GATES, RuntimeGate


def limited(limit: int | None, timeout: float = 30.0) -> override_settings:
    return override_settings(RESTATE={"BACKPRESSURE": limit, "BACKPRESSURE_TIMEOUT": timeout})


@pytest.fixture
def only_finishes_wake(monkeypatch):
    """No look of a waiting send's own at whether it may go: the order finishes set is what is
    tested, not a race with those looks."""
    monkeypatch.setattr(backpressure_module, "LOOK_AGAIN", 60.0)


def waiting_in_thread(gate: Backpressure) -> threading.Event:
    """Start a sync send's wait in a thread; the event is set when it may go."""
    went = threading.Event()

    def wait() -> None:
        gate.wait_turn()
        went.set()

    threading.Thread(target=wait, daemon=True).start()
    return went


def two_waiting(gate: Backpressure) -> tuple[threading.Event, threading.Event]:
    """One attempt running (the limit, 1), and two sends waiting in the order they came."""
    gate.started()
    first = waiting_in_thread(gate)
    eventually(lambda: gate.waiting == 1)
    second = waiting_in_thread(gate)
    eventually(lambda: gate.waiting == 2)
    return first, second


def test_off_a_send_never_waits():
    assert DEFAULTS["BACKPRESSURE"] is None
    gate = Backpressure()
    for _ in range(100):
        gate.started()
    with limited(None):
        assert gate.wait_turn() == 0.0
        assert asyncio.run(gate.await_turn()) == 0.0


def test_below_the_limit_a_send_goes_at_once():
    gate = Backpressure()
    with limited(2):
        gate.started()
        assert gate.wait_turn() == 0.0
        assert gate.waiting == 0


def test_at_the_limit_a_send_waits_for_an_attempt_to_finish_and_one_goes_per_finish(only_finishes_wake):
    gate = Backpressure()
    with limited(1):
        first, second = two_waiting(gate)
        assert not first.wait(0.1)

        gate.finished()
        assert first.wait(5)  # the one that came first goes first
        gate.started()  # its invocation arrives
        assert not second.wait(0.2) and gate.waiting == 1

        gate.finished()
        assert second.wait(5)
        assert gate.waiting == 0 and gate.running == 0


def test_a_send_queues_behind_those_already_waiting(only_finishes_wake):
    gate = Backpressure()
    with limited(1):
        first, second = two_waiting(gate)
        gate.finished()
        assert first.wait(5)
        gate.started()  # first's invocation arrives
        newcomer = waiting_in_thread(gate)
        eventually(lambda: gate.waiting == 2)
        assert not newcomer.wait(0.2) and not second.is_set()

        gate.finished()
        assert second.wait(5)
        assert not newcomer.wait(0.2)
        gate.started()
        gate.finished()
        assert newcomer.wait(5)
        assert gate.waiting == 0


def test_first_in_line_goes_when_there_is_room_though_nothing_finishes_here():
    """What was let go before it may run on another replica: no attempt will finish here to wake
    the next one, which goes once it finds itself first with room."""
    gate = Backpressure()
    with limited(1):
        first, second = two_waiting(gate)
        gate.finished()
        assert first.wait(5)
        assert second.wait(5)  # first's invocation never arrived here, and nothing else finished
        assert gate.waiting == 0


def test_with_nobody_waiting_and_room_a_send_goes_at_once():
    gate = Backpressure()
    with limited(2):
        gate.started()
        gate.started()
        first = waiting_in_thread(gate)
        eventually(lambda: gate.waiting == 1)
        gate.finished()
        assert first.wait(5)
        assert gate.wait_turn() == 0.0  # one runs, nobody waits


def test_a_send_goes_anyway_after_the_timeout_and_leaves_the_queue():
    gate = Backpressure()
    with limited(1, timeout=0.1):
        gate.started()
        began = time.monotonic()
        waited = gate.wait_turn()
        assert 0.1 <= waited <= time.monotonic() - began
        assert gate.waiting == 0
        assert asyncio.run(gate.await_turn()) >= 0.1
        assert gate.waiting == 0


async def queued(gate: Backpressure) -> asyncio.Future[float]:
    """An async send's wait, once it is in the queue."""
    waiting = asyncio.ensure_future(gate.await_turn())
    while gate.waiting == 0:
        await asyncio.sleep(0.01)
    return waiting


def test_an_async_send_is_woken_from_another_thread(only_finishes_wake):
    gate = Backpressure()

    async def send_when_turn() -> float:
        waiting = await queued(gate)
        threading.Thread(target=gate.finished).start()
        return await waiting

    with limited(1):
        gate.started()
        assert 0 < asyncio.run(send_when_turn()) < 5
        assert gate.waiting == 0


def test_a_cancelled_async_send_leaves_the_queue():
    gate = Backpressure()

    async def cancel_while_waiting() -> None:
        waiting = await queued(gate)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting

    with limited(1):
        gate.started()
        asyncio.run(cancel_while_waiting())
        assert gate.waiting == 0


def test_a_send_from_inside_an_invocation_never_waits():
    """A step's send might wait for its own attempt to finish: it goes at once instead."""
    gate = Backpressure()
    with limited(1):
        gate.started()
        token = _restate_context_var.set(object())  # type: ignore[arg-type]
        try:
            assert gate.wait_turn() == 0.0
        finally:
            _restate_context_var.reset(token)


def test_an_attempt_is_counted_while_it_runs_and_uncounted_when_it_fails():
    async def failing_attempt() -> None:
        async with counted_attempt():
            assert backpressure.running == before + 1
            raise RuntimeError("boom")

    before = backpressure.running
    with pytest.raises(RuntimeError, match="boom"):
        asyncio.run(failing_attempt())
    assert backpressure.running == before


@pytest.mark.e2e
def test_a_view_send_waits_while_the_endpoint_runs_the_limit(restate_live):
    """Against a real restate-server: the endpoint serving in this process counts the attempt
    RuntimeGate.hold keeps running, so a send waits until it returns; a delayed send does not wait."""
    name = f"gate-{uuid.uuid4().hex[:8]}"
    GATES[name] = threading.Event()
    sent: list[object] = []
    with override_settings(RESTATE={**settings.RESTATE, "BACKPRESSURE": 1, "BACKPRESSURE_TIMEOUT": 30}):
        holding = client.service(RuntimeGate).hold.send(name)  # nothing runs yet: it goes at once
        eventually(lambda: backpressure.running == 1)

        client.service(Greeter).greet.send("later", delay=60)  # it starts nothing now: it does not wait
        thread = threading.Thread(target=lambda: sent.append(client.service(Greeter).greet.send("Ada")))
        thread.start()
        eventually(lambda: backpressure.waiting == 1)
        assert not sent

        GATES[name].set()
        thread.join(10)
        assert holding.attach() is True
        assert len(sent) == 1 and sent[0].attach() == "Hello, Ada! (3 letters)"
    eventually(lambda: backpressure.running == 0)
