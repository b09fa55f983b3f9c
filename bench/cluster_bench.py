"""What replication costs, and how long a node failure stalls the load, on this machine.

    .venv/bin/python -m bench.cluster_bench                 # SQLite
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python -m bench.cluster_bench

Two setups run side by side, their load rounds alternating:

* **single**: one restate-server and one Django process (the reliability harness's server, granian
  unless ``RELIABILITY_SERVER`` says otherwise), Restate calling Django directly;
* **cluster**: three restate-server nodes (replication 2) and two Django replicas, with haproxy in
  front of the ingress, the admin API and the replicas (``django_restate.testing.topology``).

Each round sends increments (``POST /ReliabilityCounter/{key}/add``, an exclusive handler that
updates state and writes an audit row) over 100 keys with a fixed concurrency for a fixed time.
The noise control compares the single setup's odd rounds with its even rounds.

Then the failover gap: the cluster under the same load, one node killed with ``kill -9``; the
gap is the longest stretch with no completed increment, measured from the completions' own
timestamps. Calls cut off by the kill are retried with their idempotency key.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any


async def completions(ingress_url: str, run: str, concurrency: int, seconds: float, fault_at: float | None, fault: Any):
    """Timestamps of completed increments under load; ``fault()`` runs once ``fault_at`` s in."""
    import httpx

    from tests.reliability.harness import COUNTER

    done: list[float] = []
    stop_at = time.monotonic() + seconds
    began = time.monotonic()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=ingress_url, timeout=60, limits=limits) as client:

        async def worker(w: int) -> None:
            n = 0
            while time.monotonic() < stop_at:
                n += 1
                token = f"{run}-w{w}-{n}"
                while True:  # the same idempotency key until acknowledged
                    try:
                        response = await client.post(
                            f"/{COUNTER}/{run}-k{(w * 7 + n) % 100}/add", json=1, headers={"idempotency-key": token}
                        )
                        if response.status_code == 200:
                            done.append(time.monotonic() - began)
                            break
                    except httpx.HTTPError:
                        pass
                    await asyncio.sleep(0.05)

        async def inject() -> None:
            if fault_at is not None:
                await asyncio.sleep(fault_at)
                await asyncio.to_thread(fault)

        await asyncio.gather(inject(), *(worker(w) for w in range(concurrency)))
    return sorted(done)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=4, help="Rounds per setup (alternating).")
    parser.add_argument("--seconds", type=float, default=8.0, help="Duration of each round.")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--write", action=argparse.BooleanOptionalAction, default=True, help="Update RESULTS.md.")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    from django.db import connection

    from bench.results import table, write_section
    from django_restate.admin_api import AdminAPI
    from django_restate.deployments import register
    from django_restate.testing.server import RestateServer
    from django_restate.testing.topology import LocalTopology
    from tests.reliability.harness import ROOT, SERVER, SETTINGS, DjangoProcess, LoadResult, sustain

    load_before = os.getloadavg()[0]
    old_name = connection.settings_dict["NAME"]
    test_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    connection.close()
    env = {"DJANGO_SETTINGS_MODULE": SETTINGS, "RELIABILITY_DATABASE_NAME": str(test_name), "PYTHONPATH": str(ROOT)}
    os.environ["RELIABILITY_DATABASE_NAME"] = str(test_name)
    work = Path(tempfile.mkdtemp(prefix="cluster-bench-"))
    results: dict[str, list[LoadResult]] = {"single": [], "cluster": []}
    try:
        with (
            RestateServer() as server,
            DjangoProcess(str(test_name), work / "single.log") as single,
            LocalTopology(nodes=3, replicas=2, env=env, cwd=ROOT, base_dir=str(work / "topology")) as cluster,
        ):
            with AdminAPI(server.admin_url) as admin:
                register(admin, single.deployment_url)
            cluster.register()
            ingress = {"single": server.ingress_url, "cluster": cluster.ingress_url}
            for setup in ingress:  # warm-up: connections, caches, first registrations
                asyncio.run(sustain(ingress[setup], f"warm-{uuid.uuid4().hex[:6]}", args.concurrency, 2.0))
            for index in range(args.rounds * 2):
                order = ("single", "cluster") if (index // 2) % 2 == 0 else ("cluster", "single")  # ABBA
                setup = order[index % 2]
                run = f"r{index}-{uuid.uuid4().hex[:6]}"
                results[setup].append(asyncio.run(sustain(ingress[setup], run, args.concurrency, args.seconds)))
                print(f"round {index + 1}: {setup} {results[setup][-1].throughput:.0f}/s", flush=True)

            gaps = []
            for node in (1, 2):
                stamps = asyncio.run(
                    completions(
                        cluster.ingress_url, f"gap{node}-{uuid.uuid4().hex[:6]}", args.concurrency, 12.0, 4.0,
                        lambda n=node: cluster.cluster.kill(n),
                    )
                )  # fmt: skip
                after = [t for t in stamps if t >= 3.5]
                gaps.append(max((b - a for a, b in zip(after, after[1:], strict=False)), default=float("nan")))
                cluster.cluster.restart(node)
                print(f"failover gap, node {node + 1} killed: {gaps[-1]:.2f}s", flush=True)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)

    def figures(rounds: list[LoadResult]) -> tuple[float, float, float]:
        ok = sum(r.ok for r in rounds)
        seconds = sum(r.duration for r in rounds)
        latencies = sorted(x for r in rounds for x in r.latencies)
        q = statistics.quantiles(latencies, n=100, method="inclusive")
        return ok / seconds, q[49] * 1000, q[98] * 1000

    single_tp, single_p50, single_p99 = figures(results["single"])
    cluster_tp, cluster_p50, cluster_p99 = figures(results["cluster"])
    odd, even = figures(results["single"][0::2]), figures(results["single"][1::2])
    errors = {k: sum(len(r.errors) for r in v) for k, v in results.items()}
    engine = connection.vendor
    rows = [
        ["throughput (increments/s)", f"{single_tp:.0f}", f"{cluster_tp:.0f}", f"{cluster_tp / single_tp:.2f}"],
        ["p50 (ms)", f"{single_p50:.1f}", f"{cluster_p50:.1f}", f"{cluster_p50 / single_p50:.2f}"],
        ["p99 (ms)", f"{single_p99:.1f}", f"{cluster_p99:.1f}", f"{cluster_p99 / single_p99:.2f}"],
    ]
    text = "\n\n".join(
        [
            f"## Cluster: one node vs three (`python -m bench.cluster_bench`, {engine})",
            f"{args.rounds} alternating rounds of {args.seconds:.0f} s per setup, {args.concurrency} concurrent "
            "clients, increments over 100 Virtual Object keys (state + an audit row per increment). single: one "
            f"restate-server, one {SERVER}; cluster: three nodes (replication 2), two granian replicas (HTTP/2 "
            f"through the balancer), haproxy in front of everything. Load average before the run: {load_before:.1f}. "
            f"Errors: {errors}.",
            table(["", "single", "cluster", "cluster / single"], rows),
            f"Noise control (single, odd rounds / even rounds): throughput {odd[0] / even[0]:.2f}, "
            f"p50 {odd[1] / even[1]:.2f}."
            + (
                " The control strays further from 1 than the cluster/single ratio does: this run does not resolve "
                "the cost of replication (rerun on a quiet machine)."
                if abs(1 - odd[0] / even[0]) > abs(1 - cluster_tp / single_tp)
                else ""
            ),
            "Failover gap (longest stretch without a completed increment after `kill -9` of one node under the "
            f"same load): {', '.join(f'{g:.2f} s' for g in gaps)} (node 2, then node 3). On this two-CPU machine "
            "the cluster's three servers and two replicas share the cores the single setup has to itself, so the "
            "ratio is the cost of replication plus the cost of five processes on two cores, not a speed-up.",
        ]
    )
    print(text)
    if args.write:
        write_section(f"cluster_bench_{engine}", text)


if __name__ == "__main__":
    main()
