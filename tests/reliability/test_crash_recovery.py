"""2,000 increments across 100 Virtual Object keys, with the Django server or the Restate
server killed, stopped or restarted while they are in flight. Every acknowledged increment
is applied exactly once, and the ones in flight complete after the restart.

"Exactly once" is checked three ways: each key's acknowledged return values are exactly
1..20 (no increment applied twice, none skipped), the object's own value is 20, and the
database holds exactly one audit row per increment.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable

import pytest

from django_restate.testing.server import RestateServer, listening
from tests.reliability_app.models import IncrementAudit

from .harness import DjangoProcess, Increment, Progress, counter_values, drive_increments, plan_increments, wait_for

pytestmark = pytest.mark.e2e

KEYS = 100
PER_KEY = 20
CONCURRENCY = 50
FAULT_AFTER = 500  # acknowledged increments before the fault


def run_with_fault(
    restate: RestateServer, run_id: str, fault: Callable[[Progress], Awaitable[None]]
) -> tuple[list[Increment], Progress]:
    increments = plan_increments(run_id, KEYS, PER_KEY)
    progress = Progress()

    async def scenario() -> list[Increment]:
        load = asyncio.create_task(drive_increments(restate.ingress_url, increments, CONCURRENCY, progress))
        await wait_for(lambda: progress.acknowledged >= FAULT_AFTER or load.done(), 60, "the first increments")
        assert not load.done(), "the load finished before the fault; nothing was in flight"
        await fault(progress)
        return await load

    return asyncio.run(scenario()), progress


def assert_exactly_once(restate: RestateServer, increments: list[Increment]) -> None:
    failed = [inc for inc in increments if inc.status != 200]
    assert not failed, f"{len(failed)} increments never acknowledged, e.g. {failed[:3]}"
    by_key: dict[str, list[int]] = {}
    for inc in increments:
        assert inc.value is not None
        by_key.setdefault(inc.key, []).append(inc.value)
    for key, values in by_key.items():
        assert sorted(values) == list(range(1, PER_KEY + 1)), f"{key} acknowledged {sorted(values)}"
    assert counter_values(restate.ingress_url, sorted(by_key)) == dict.fromkeys(by_key, PER_KEY)
    audits = IncrementAudit.objects.filter(key__in=by_key)
    assert audits.count() == KEYS * PER_KEY
    assert audits.values("invocation_id").distinct().count() == KEYS * PER_KEY


def test_kill_9_django_during_load(live: DjangoProcess, restate: RestateServer, run_id: str, capsys):
    in_flight = 0

    async def crash(progress: Progress) -> None:
        nonlocal in_flight
        in_flight = progress.sent - progress.acknowledged
        live.kill()
        await asyncio.sleep(1.0)  # Restate keeps retrying against a dead port meanwhile
        await asyncio.to_thread(live.start)

    increments, progress = run_with_fault(restate, run_id, crash)
    assert in_flight > 0
    assert_exactly_once(restate, increments)
    # The ingress held the in-flight calls open across the crash; no client retry was needed.
    assert progress.transport_errors == 0
    with capsys.disabled():
        print(f"\n[reliability] kill -9 Django: {in_flight} in flight at the crash, 2000/2000 applied once")


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_restart_restate_server_during_load(live: DjangoProcess, restate: RestateServer, run_id: str, how, capsys):
    in_flight = 0

    async def restart(progress: Progress) -> None:
        nonlocal in_flight
        in_flight = progress.sent - progress.acknowledged
        await asyncio.to_thread(restate.stop if how == "SIGTERM" else restate.kill)
        assert not listening(restate.ingress_port), "restate-server is still up after being stopped"
        await asyncio.to_thread(restate.start)  # same data dir, same ports

    increments, progress = run_with_fault(restate, run_id, restart)
    assert in_flight > 0
    assert_exactly_once(restate, increments)
    retried = sum(1 for inc in increments if inc.tries > 1)
    with capsys.disabled():
        print(
            f"\n[reliability] restate-server {how} + restart: {in_flight} in flight, "
            f"{retried} retried with their idempotency key, 2000/2000 applied once"
        )


def test_sigterm_django_during_load(live: DjangoProcess, restate: RestateServer, run_id: str, capsys):
    """A graceful stop (systemd, Kubernetes): the server exits, in-flight invocations suspend or
    finish, and after the restart none is lost or doubled."""
    outcome: dict[str, float] = {}

    async def graceful_stop(progress: Progress) -> None:
        outcome["in_flight"] = progress.sent - progress.acknowledged
        code, seconds = await asyncio.to_thread(live.terminate, 30.0)
        outcome["code"], outcome["seconds"] = code, seconds
        assert not listening(live.port)
        await asyncio.to_thread(live.start)

    started = time.monotonic()
    increments, _ = run_with_fault(restate, run_id, graceful_stop)
    assert outcome["in_flight"] > 0
    # uvicorn really stopped on SIGTERM (the SDK's own handler did not swallow it), within its
    # graceful-shutdown timeout plus a margin. After a graceful shutdown uvicorn re-raises the
    # signal it caught, so the exit status is "terminated by SIGTERM", not a crash.
    assert outcome["code"] in (0, -signal.SIGTERM), live.log_tail()
    assert outcome["seconds"] < live.graceful_timeout + 5
    assert_exactly_once(restate, increments)
    with capsys.disabled():
        print(
            f"\n[reliability] SIGTERM Django: exit status {outcome['code']:.0f} after {outcome['seconds']:.1f}s with "
            f"{outcome['in_flight']:.0f} in flight; 2000/2000 applied once in {time.monotonic() - started:.1f}s"
        )
