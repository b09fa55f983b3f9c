"""Every acknowledged invocation is applied exactly once on a three-node Restate cluster with two
Django replicas behind haproxy, through a Restate node or a Django replica dying mid-load.

2,000 increments across 100 Virtual Object keys go through the balancer's ingress with 50
concurrent clients, each increment with its own idempotency key, retried unchanged after a
transport error (what a client must do when a node dies under it). "Exactly once" is checked
three ways: each key's acknowledged values are exactly 1..N, the object's own value is N, and
the handler wrote exactly one audit row per increment.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from django_restate.testing import eventually
from django_restate.testing.topology import LocalTopology
from tests.reliability.harness import Progress, assert_exactly_once, run_with_faults
from tests.reliability_app.models import Gate, StepEffect

pytestmark = pytest.mark.e2e

PER_KEY = 20  # 100 keys x 20 = 2,000 increments


def report(capsys: pytest.CaptureFixture[str], text: str) -> None:
    with capsys.disabled():
        print(f"\n[cluster] {text}")


def test_kill_9_a_restate_node_mid_load(cluster: LocalTopology, run_id: str, capsys: pytest.CaptureFixture[str]):
    """Node 2 of 3 is SIGKILLed after 500 acknowledgements and restarted after 1,200: the load
    goes on through the other two nodes meanwhile, and nothing is lost or applied twice."""
    seen: dict[str, int] = {}

    async def kill(progress: Progress) -> None:
        seen["at_kill"] = progress.acknowledged
        await asyncio.to_thread(cluster.cluster.kill, 1)

    async def restart(progress: Progress) -> None:
        seen["while_down"] = progress.acknowledged - seen["at_kill"]
        await asyncio.to_thread(cluster.cluster.restart, 1)

    started = time.monotonic()
    increments = run_with_faults(cluster.ingress_url, run_id, PER_KEY, [(500, kill), (1200, restart)])
    assert seen["while_down"] >= 600  # served by the two other nodes while one was dead
    assert_exactly_once(cluster.ingress_url, increments, PER_KEY)
    retried = sum(1 for inc in increments if inc.tries > 1)
    report(
        capsys,
        f"kill -9 one of 3 Restate nodes: {retried} calls retried with their idempotency key, "
        f"2000/2000 applied once in {time.monotonic() - started:.0f}s",
    )


def test_kill_9_a_django_replica_mid_load(cluster: LocalTopology, run_id: str, capsys: pytest.CaptureFixture[str]):
    """Replica 1 of 2 is SIGKILLed after 500 acknowledgements and started again a second later;
    Restate re-sends its in-flight invocations through the balancer to the other replica."""

    async def crash(progress: Progress) -> None:
        cluster.replicas[0].kill()
        await asyncio.sleep(1.0)
        await asyncio.to_thread(cluster.replicas[0].start)

    started = time.monotonic()
    increments = run_with_faults(cluster.ingress_url, run_id, PER_KEY, [(500, crash)])
    assert_exactly_once(cluster.ingress_url, increments, PER_KEY)
    report(capsys, f"kill -9 one of 2 Django replicas: 2000/2000 applied once in {time.monotonic() - started:.0f}s")


def test_workflow_started_before_a_node_kill_completes_each_step_once(cluster: LocalTopology, run_id: str):
    """A workflow waits at a gate (a step in flight); each Restate node in turn is killed and
    restarted; the gate opens; the workflow completes and every step's effect happened once.

    The step in flight *is* run again, several times, some of those runs overlapping on the two
    replicas (Restate runs ``ctx.run`` at least once): ``atomic_step(once=True)`` is what makes
    its database effect happen once."""
    workflow_id, gate = f"wf-{run_id}", f"gate-{run_id}"
    ingress = cluster.ingress_url
    started = httpx.post(f"{ingress}/ReliabilityOncePipeline/{workflow_id}/run/send", json=gate, timeout=10)
    assert started.json()["status"] == "Accepted", started.text

    def at_the_gate() -> None:
        assert Gate.objects.filter(name=gate, entered__gte=1).exists(), "the workflow has not reached its gate"

    eventually(at_the_gate, timeout=30)

    for index in range(len(cluster.cluster.nodes)):  # whichever node leads its partition dies once
        cluster.cluster.kill(index)
        cluster.cluster.restart(index)
    Gate.objects.filter(name=gate).update(is_open=True)

    result = httpx.get(f"{ingress}/restate/workflow/ReliabilityOncePipeline/{workflow_id}/attach", timeout=120)
    assert result.status_code == 200, result.text
    assert result.json() == ["one", "two", "three", "gate", "four", "five", "six"]
    steps = list(StepEffect.objects.filter(workflow_id=workflow_id).values_list("step", flat=True))
    assert sorted(steps) == sorted(["one", "two", "three", "gate", "four", "five", "six"]), steps
    assert Gate.objects.get(name=gate).entered >= 2  # the step in flight really was run again


def test_the_client_rides_out_a_node_kill_with_idempotency_keys(cluster: LocalTopology, run_id: str):
    """django_restate's own client, pointed at the balancer: 400 increments from 16 threads, a node
    killed after 100. Calls cut off by the kill are sent again with their key by the client itself:
    every call returns, and each increment is applied once."""
    from concurrent.futures import ThreadPoolExecutor

    from django_restate.client import RestateClient
    from tests.reliability_app.models import IncrementAudit
    from tests.reliability_app.restate_services import Counter

    keys, per_key = 20, 20
    done: list[int] = []
    with RestateClient(cluster.ingress_url) as restate:

        def increment(n: int) -> tuple[str, int]:
            key = f"{run_id}-c{n % keys}"
            value = restate.object(Counter, key).add(1, idempotency_key=f"{run_id}-{n}")
            done.append(n)
            return key, value

        with ThreadPoolExecutor(16) as pool:
            futures = [pool.submit(increment, n) for n in range(keys * per_key)]

            def hundred_done() -> None:
                assert len(done) >= 100

            eventually(hundred_done, timeout=120, interval=0.01)
            cluster.cluster.kill(2)
            results = [f.result() for f in futures]  # raises if any call failed
        cluster.cluster.restart(2)

    values: dict[str, list[int]] = {}
    for key, value in results:
        values.setdefault(key, []).append(value)
    assert all(sorted(v) == list(range(1, per_key + 1)) for v in values.values()), values
    assert IncrementAudit.objects.filter(key__startswith=f"{run_id}-c").count() == keys * per_key
