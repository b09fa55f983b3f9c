"""Backpressure (``RESTATE["BACKPRESSURE"]``): a send waits while this process's endpoint runs
the limit of invocation attempts, one waiting send going per attempt that finishes."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from contextlib import nullcontext

import pytest
from django.conf import settings
from django.test import override_settings
from restate.server_context import _restate_context_var

from demo_project.shop.restate_services import Greeter
from django_restate import backpressure as backpressure_module
from django_restate.backpressure import Backpressure, Turn, backpressure, counted_attempt
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


def waiting_in_thread(gate: Backpressure, invocation_id: str | None = None) -> threading.Event:
    """Start a sync send's wait in a thread; the event is set when it may go. The ingress answers
    at once, with ``invocation_id`` (to be started with ``gate.started(invocation_id)``)."""
    went = threading.Event()

    def wait() -> None:
        with gate.wait_turn() as turn:
            turn.sent(invocation_id or uuid.uuid4().hex, "Accepted")
        went.set()

    threading.Thread(target=wait, daemon=True).start()
    return went


def serving() -> Backpressure:
    """A gate whose process's endpoint has run an attempt (so its sends count), none running now."""
    gate = Backpressure()
    gate.started()
    gate.finished()
    return gate


def send(gate: Backpressure, invocation_id: str) -> None:
    """A send that goes now, answered by the ingress with ``invocation_id``."""
    with gate.wait_turn() as turn:
        turn.sent(invocation_id, "Accepted")


def two_waiting(gate: Backpressure) -> tuple[threading.Event, threading.Event]:
    """One attempt running (the limit, 1), and two sends waiting in the order they came, which
    start invocations "first" and "second"."""
    gate.started()
    first = waiting_in_thread(gate, "first")
    eventually(lambda: gate.waiting == 1)
    second = waiting_in_thread(gate, "second")
    eventually(lambda: gate.waiting == 2)
    return first, second


def test_off_a_send_never_waits():
    assert DEFAULTS["BACKPRESSURE"] is None
    gate = Backpressure()
    for _ in range(100):
        gate.started()
    with limited(None):
        assert gate.wait_turn().waited == 0.0
        assert asyncio.run(gate.await_turn()).waited == 0.0


def test_below_the_limit_a_send_goes_at_once():
    gate = Backpressure()
    with limited(2):
        gate.started()
        assert gate.wait_turn().waited == 0.0
        assert gate.waiting == 0


def test_at_the_limit_a_send_waits_for_an_attempt_to_finish_and_one_goes_per_finish(only_finishes_wake):
    gate = Backpressure()
    with limited(1):
        first, second = two_waiting(gate)
        assert not first.wait(0.1)

        gate.finished()
        assert first.wait(5)  # the one that came first goes first
        gate.started("first")  # its invocation arrives
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
        gate.started("first")  # first's invocation arrives
        newcomer = waiting_in_thread(gate)
        eventually(lambda: gate.waiting == 2)
        assert not newcomer.wait(0.2) and not second.is_set()

        gate.finished()
        assert second.wait(5)
        assert not newcomer.wait(0.2)
        gate.started("second")
        gate.finished()
        assert newcomer.wait(5)
        assert gate.waiting == 0


def test_first_in_line_goes_when_there_is_room_though_nothing_finishes_here(monkeypatch):
    """What was let go before it may run on another replica: no attempt will finish here to wake
    the next one, which goes once it finds itself first with room, when the invocation sent before
    it is no longer expected here."""
    monkeypatch.setattr(backpressure_module, "EXPECT_FOR", 0.3)
    gate = Backpressure()
    with limited(1):
        first, second = two_waiting(gate)
        gate.finished()
        assert first.wait(5)
        began = time.monotonic()
        assert second.wait(5)  # first's invocation never arrived here, and nothing else finished
        assert time.monotonic() - began >= 0.2  # not before "first" stopped counting
        assert gate.waiting == 0


def test_with_nobody_waiting_and_room_a_send_goes_at_once():
    gate = Backpressure()
    with limited(2):
        gate.started()
        gate.started()
        first = waiting_in_thread(gate, "first")
        eventually(lambda: gate.waiting == 1)
        gate.finished()
        assert first.wait(5)
        gate.started("first")  # its invocation starts
        gate.finished()
        assert gate.wait_turn().waited == 0.0  # one runs, nobody waits


def test_a_send_goes_anyway_after_the_timeout_and_leaves_the_queue():
    gate = Backpressure()
    with limited(1, timeout=0.1):
        gate.started()
        began = time.monotonic()
        waited = gate.wait_turn().waited
        assert 0.1 <= waited <= time.monotonic() - began
        assert gate.waiting == 0
        assert asyncio.run(gate.await_turn()).waited >= 0.1
        assert gate.waiting == 0


async def queued(gate: Backpressure) -> asyncio.Future[Turn]:
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
        return (await waiting).waited

    with limited(1):
        gate.started()
        assert 0 < asyncio.run(send_when_turn()) < 5
        assert gate.waiting == 0


@pytest.mark.parametrize("let_go", [False, True], ids=["while waiting", "once let go"])
def test_a_cancelled_async_send_leaves_the_queue_and_holds_no_room(let_go, only_finishes_wake):
    """Cancelled while it waits, or after a finish handed it the room but before it ran: either way
    it leaves nothing behind."""
    gate = Backpressure()

    async def cancel() -> None:
        waiting = await queued(gate)
        if let_go:
            gate.finished()
            assert gate.in_flight == 1
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting

    with limited(1):
        gate.started()
        asyncio.run(cancel())
        assert gate.waiting == 0 and gate.in_flight == (0 if let_go else 1)


def test_a_send_let_go_holds_its_room_before_its_thread_runs(only_finishes_wake):
    """The finish that wakes a waiting send hands it the room: a send that comes in the moment
    before the woken one runs waits, instead of both going."""
    gate = Backpressure()
    with limited(1, timeout=0.1):
        first, _ = two_waiting(gate)
        gate.finished()
        assert gate.in_flight == 1  # first's, whether or not its thread has run yet
        assert first.wait(5)
        assert gate.wait_turn().waited >= 0.1  # the newcomer found no room


def test_a_send_from_inside_an_invocation_never_waits():
    """A step's send might wait for its own attempt to finish: it goes at once instead."""
    gate = Backpressure()
    with limited(1):
        gate.started()
        token = _restate_context_var.set(object())  # type: ignore[arg-type]
        try:
            assert gate.wait_turn().waited == 0.0
        finally:
            _restate_context_var.reset(token)


def test_a_send_counts_as_in_flight_until_its_invocation_starts_here_then_once():
    gate = Backpressure()
    with limited(2):
        gate.started()
        with gate.wait_turn() as turn:
            assert gate.in_flight == 2  # sent, not answered yet
            turn.sent("inv_a", "Accepted")
        assert gate.in_flight == 2  # answered, expected here
        gate.started("inv_a")
        assert gate.in_flight == 2 and gate.running == 2  # arrived: counted as running, not twice
        gate.finished()
        assert gate.in_flight == 1


def test_an_invocation_that_starts_before_its_send_is_answered_counts_once():
    gate = Backpressure()
    with limited(3):
        gate.started()
        with gate.wait_turn() as turn:
            gate.started("inv_a")  # restate ran it before the ingress's answer came back
            assert gate.in_flight == 3
            turn.sent("inv_a", "Accepted")
        assert gate.in_flight == 2 and gate.running == 2


def test_a_sent_invocation_that_does_not_start_here_stops_counting(monkeypatch):
    """It runs on another replica, or on a deployment elsewhere: after EXPECT_FOR it no longer
    holds a turn, and the next send goes."""
    monkeypatch.setattr(backpressure_module, "EXPECT_FOR", 0.2)
    gate = serving()
    with limited(1):
        send(gate, "inv_elsewhere")
        assert gate.in_flight == 1
        waited = gate.wait_turn().waited
        assert 0.1 <= waited < 5
        assert gate.in_flight == 1  # the one that just went


def test_a_send_counts_for_a_few_times_as_long_as_this_process_s_own_take_to_start(monkeypatch):
    """Behind a load balancer some sends run on other replicas: each stops counting once it is much
    later than those that started here were, not after the whole EXPECT_FOR, yet is still matched
    (and counted once) if it starts here after all."""
    monkeypatch.setattr(backpressure_module, "EXPECT_FOR", 60.0)
    monkeypatch.setattr(backpressure_module, "EXPECT_AT_LEAST", 0.01)
    gate = serving()
    with limited(10):
        send(gate, "inv_here")
        time.sleep(0.05)
        gate.started("inv_here")  # it took 0.05 s or a little more: counted for 8 times that
        gate.finished()

        send(gate, "inv_elsewhere")
        answered = time.monotonic()
        time.sleep(0.1)
        assert gate.in_flight == 1
        eventually(lambda: gate.in_flight == 0, timeout=5, interval=0.01)
        assert time.monotonic() - answered >= 0.35
        gate.started("inv_elsewhere")  # late, but it was this process's: running now, not twice
        assert gate.in_flight == 1 and gate.running == 1


def test_a_process_whose_sends_run_elsewhere_soon_stops_holding_them_back(monkeypatch):
    """It ran attempts once, but what it sends now runs in other processes: each send that never
    starts here lowers the share its not-started sends count at, until they hold nothing back."""
    monkeypatch.setattr(backpressure_module, "EXPECT_FOR", 0.05)
    gate = serving()
    with limited(2, timeout=5):
        waited = []
        for number in range(100):
            with gate.wait_turn() as turn:
                turn.sent(f"inv_elsewhere_{number}", "Accepted")
            waited.append(turn.waited)
        assert sum(waited[:10]) > 0.05  # at first, while it was thought they ran here
        assert sum(waited[-40:]) == 0.0
        assert gate.in_flight < 1


class IngressDown(Exception):
    pass


@pytest.mark.parametrize("outcome", ["raises", "previously accepted"])
def test_a_send_that_starts_nothing_new_stops_counting_and_lets_the_next_go(outcome, only_finishes_wake):
    gate = serving()
    with limited(1):
        with pytest.raises(IngressDown) if outcome == "raises" else nullcontext(), gate.wait_turn() as turn:
            nxt = waiting_in_thread(gate)
            eventually(lambda: gate.waiting == 1)
            if outcome == "raises":
                raise IngressDown
            turn.sent("inv_workflow_run_before", "PreviouslyAccepted")
        assert nxt.wait(5)
        assert gate.waiting == 0 and gate.in_flight == 1  # the next one's


def test_a_process_whose_endpoint_has_run_nothing_counts_no_sends():
    """A process that only serves views: its sends run elsewhere, there is nothing here to protect."""
    gate = Backpressure()
    with limited(1):
        for number in range(5):
            with gate.wait_turn() as turn:
                assert turn.waited == 0.0
                turn.sent(f"inv_{number}", "Accepted")
        assert gate.in_flight == 0


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
def test_a_view_send_waits_while_the_endpoint_runs_the_limit(restate_live, monkeypatch):
    """Against a real restate-server: the endpoint serving in this process counts the attempt
    RuntimeGate.hold keeps running, so a send waits until it returns; a delayed send does not wait."""
    monkeypatch.setattr(backpressure_module, "EXPECT_FOR", 60.0)  # only a match stops a send counting
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
    # Each send's invocation was matched, by the id the ingress answered, to the attempt that ran
    # it here: none is left expected.
    eventually(lambda: backpressure.running == 0 and backpressure.in_flight == 0)
