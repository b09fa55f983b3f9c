"""Increments across 100 Virtual Object keys, with the Django server or the Restate server
killed, stopped or restarted while they are in flight. Every acknowledged increment is
applied exactly once, and the ones in flight complete after the restart.

"Exactly once" is checked three ways: each key's acknowledged return values are exactly
1..N (no increment applied twice, none skipped), the object's own value is N, and the
database holds exactly one audit row per increment.
"""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from django_restate.testing.server import RestateServer, listening

from .harness import DjangoProcess, Fault, Progress, assert_exactly_once, run_with_faults

pytestmark = pytest.mark.e2e


def report(capsys, text: str) -> None:
    with capsys.disabled():
        print(f"\n[reliability] {text}")


def test_kill_9_django_during_load(live: DjangoProcess, restate: RestateServer, run_id: str, capsys):
    """2,000 increments; uvicorn is SIGKILLed after 500 and started again a second later."""
    in_flight = 0

    async def crash(progress: Progress) -> None:
        nonlocal in_flight
        in_flight = progress.sent - progress.acknowledged
        live.kill()
        await asyncio.sleep(1.0)  # Restate keeps retrying against a dead port meanwhile
        await asyncio.to_thread(live.start)

    started = time.monotonic()
    increments = run_with_faults(restate.ingress_url, run_id, 20, [(500, crash)])
    assert in_flight > 0
    assert_exactly_once(restate.ingress_url, increments, 20)
    # The ingress held the in-flight calls open across the crash: no client retry was needed.
    assert all(inc.tries == 1 for inc in increments)
    report(
        capsys, f"kill -9 Django: {in_flight} in flight, 2000/2000 applied once in {time.monotonic() - started:.0f}s"
    )


def test_stop_and_kill_restate_server_during_load(live: DjangoProcess, restate: RestateServer, run_id: str, capsys):
    """2,000 increments; restate-server is stopped (SIGTERM) after 400 and killed (SIGKILL) after
    1,200, each time restarted on the same data dir. Calls cut off by the restart are retried by
    the client with the same idempotency key."""
    in_flight: list[int] = []

    def restart(how: signal.Signals) -> Fault:
        async def fault(progress: Progress) -> None:
            in_flight.append(progress.sent - progress.acknowledged)
            await asyncio.to_thread(restate.stop, how)
            assert not listening(restate.ingress_port), "restate-server is still up after being stopped"
            await asyncio.to_thread(restate.start)  # same data dir, same ports

        return fault

    started = time.monotonic()
    faults = [(400, restart(signal.SIGTERM)), (1200, restart(signal.SIGKILL))]
    increments = run_with_faults(restate.ingress_url, run_id, 20, faults)
    assert all(in_flight)
    assert_exactly_once(restate.ingress_url, increments, 20)
    retried = sum(1 for inc in increments if inc.tries > 1)
    assert retried > 0  # the restarts really cut calls off
    report(
        capsys,
        f"restate-server SIGTERM then SIGKILL, restarted each time: {in_flight} in flight, {retried} retried "
        f"with their idempotency key, 2000/2000 applied once in {time.monotonic() - started:.0f}s",
    )


def test_sigterm_django_during_load(live: DjangoProcess, restate: RestateServer, run_id: str, capsys):
    """1,000 increments; uvicorn gets SIGTERM after 300 (as systemd or Kubernetes stop it): it
    exits, in-flight invocations suspend or finish, and after the restart none is lost or doubled."""
    outcome: dict[str, float] = {}

    async def graceful_stop(progress: Progress) -> None:
        outcome["in_flight"] = progress.sent - progress.acknowledged
        before = time.monotonic()
        outcome["code"] = await asyncio.to_thread(live.terminate, 30.0)
        outcome["seconds"] = time.monotonic() - before
        assert not listening(live.port)
        await asyncio.to_thread(live.start)

    started = time.monotonic()
    increments = run_with_faults(restate.ingress_url, run_id, 10, [(300, graceful_stop)])
    assert outcome["in_flight"] > 0
    # uvicorn really stopped on SIGTERM (the SDK's own handler did not swallow it), within its
    # graceful-shutdown timeout plus a margin. After a graceful shutdown uvicorn re-raises the
    # signal it caught, so the exit status is "terminated by SIGTERM", not a crash.
    assert outcome["code"] in (0, -signal.SIGTERM), live.log_tail()
    assert outcome["seconds"] < live.graceful_timeout + 5
    assert_exactly_once(restate.ingress_url, increments, 10)
    report(
        capsys,
        f"SIGTERM Django: exited ({outcome['code']:.0f}) {outcome['seconds']:.1f}s after the signal with "
        f"{outcome['in_flight']:.0f} in flight; 1000/1000 applied once in {time.monotonic() - started:.0f}s",
    )
