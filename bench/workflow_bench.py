"""Durable workflows started from a Django view, side by side in one run: django-restate over
HTTP/1.1 and HTTP/2, the bare Restate SDK on the same servers, and DBOS Transact.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python -m bench.workflow_bench

The workload (``bench/workflowbench``): a workflow of three durable steps (insert an ``Order`` row,
a small CPU step, update the row to "done" with the time) started by ``POST /start/<id>``, which
answers 202. Each side is one Django process serving that view and running the workflows:

- django-restate: the project's ASGI app (``django_restate.asgi``), the view sending with
  ``client.workflow(...).run.asend()``; its own restate-server invokes the endpoint;
- the bare SDK: ``restate.app`` mounted at ``/restate`` next to Django's ASGI handler, the view
  POSTing to the ingress with httpx; its own restate-server;
- DBOS: ``DBOS.launch()`` in ``AppConfig.ready()``, the view calling ``DBOS.start_workflow``
  under ``SetWorkflowID``; its system database on the same PostgreSQL.

Every side uses the same step functions, model, PostgreSQL and ``CONN_MAX_AGE``. A round gives a
side ``--workflows`` workflows from ``--starters`` concurrent starters (each POSTs the next start
as soon as the last answered), and ends when every row is done. Rounds alternate the order of the
sides. DBOS is measured twice per round, as two sides of the same process ("DBOS" and "DBOS,
again"): the distance of their ratio from 1.0 is this run's noise.

Measured per side: throughput (first start to last done), start latency (the POST), end-to-end
latency (start to the row's ``done_at``), CPU per workflow of the Django process, restate-server
and PostgreSQL (from /proc; PostgreSQL's counts every backend), and the requests Restate made to
the endpoint per workflow (counted by a wrapper around the ASGI app).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ["DJANGO_SETTINGS_MODULE"] = "bench.workflow_settings"
os.environ["BENCH_WORKFLOW_SIDE"] = "restate"  # this process migrates every table any side uses; it serves nothing
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
sys.path.insert(0, str(ROOT))

import django  # noqa: E402

django.setup()

import httpx  # noqa: E402
from django.db import connection  # noqa: E402

from bench.procstat import postgres_cpu, tree_cpu  # noqa: E402
from bench.results import table, write_section  # noqa: E402
from bench.workflowbench.models import Order  # noqa: E402
from django_restate.admin_api import AdminAPI  # noqa: E402
from django_restate.deployments import register  # noqa: E402
from django_restate.testing.asgi_servers import server_command  # noqa: E402
from django_restate.testing.server import RestateServer, free_port, kill_group, wait_for_http  # noqa: E402

BENCH_DB = "django_restate_bench_workflow"
DBOS_DB = "django_restate_bench_workflow_dbos"
DONE_POLL = 0.02
#: How many workflows each side runs at once (``--limit``): DBOS's executor threads (a workflow holds one from
#: start to end), restate-server's ``concurrent-invocations-limit`` (default 1,000). The same bound
#: for both; without one DBOS exhausts PostgreSQL's connections (a Django connection per thread).
INVOCATIONS_LIMIT = 32


@dataclass
class Side:
    """One Django process (and its restate-server, if any), with what was measured of it."""

    name: str
    kind: str  # restate | bare | dbos
    server: str
    django_url: str = ""
    process: subprocess.Popen[bytes] | None = None
    restate: RestateServer | None = None
    workflows: int = 0
    seconds: float = 0.0
    start_latencies: list[float] = field(default_factory=list)
    end_to_end: list[float] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)
    invocations: int = 0

    @property
    def throughput(self) -> float:
        return self.workflows / self.seconds

    def pids(self) -> dict[str, int]:
        assert self.process is not None
        pids = {"Django": self.process.pid}
        if self.restate is not None and self.restate.process is not None:
            pids["restate-server"] = self.restate.process.pid
        return pids


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000


def database_url(name: str) -> str:
    return os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/" + name


def start_side(side: Side, stack: contextlib.ExitStack, limit: int) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "BENCH_WORKFLOW_SIDE": side.kind,
        "DATABASE_URL": database_url(BENCH_DB),
    }
    if side.kind == "dbos":
        env |= {"BENCH_DBOS_LAUNCH": "1", "DBOS_SYSTEM_DATABASE_URL": database_url(DBOS_DB),
                "BENCH_DBOS_THREADS": str(limit)}  # fmt: skip
    else:
        bound = {"RESTATE_WORKER__INVOKER__CONCURRENT_INVOCATIONS_LIMIT": str(limit)}
        side.restate = stack.enter_context(RestateServer(env=bound))
        env |= {"RESTATE_INGRESS_URL": side.restate.ingress_url, "RESTATE_ADMIN_URL": side.restate.admin_url}
    port = free_port()
    # A session of its own: the bare SDK ignores SIGTERM (it replaces the server's handler), which
    # leaves granian's worker process behind when its main process exits; stop() kills the group.
    command = server_command(side.server, "bench.workflowbench.asgi:application", port, log_level="error")
    side.process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    stack.callback(stop, side.process)
    side.django_url = f"http://127.0.0.1:{port}"
    wait_for_http(f"{side.django_url}/bench/invocations", process=side.process)
    if side.restate is not None:
        with AdminAPI(side.restate.admin_url) as admin:
            registration = register(admin, f"{side.django_url}/restate")
        print(f"{side.name}: endpoint registered, {registration.protocol}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(20)
    kill_group(process)  # whatever of its group is still there (a worker left behind)


def invocations(side: Side) -> int:
    return int(httpx.get(f"{side.django_url}/bench/invocations").text)


def done_rows(prefix: str) -> list[tuple[str, float]]:
    rows = Order.objects.filter(order_id__startswith=prefix, done_at__isnull=False)
    return list(rows.values_list("order_id", "done_at"))


async def one_round(side: Side, count: int, starters: int, timeout: float) -> tuple[float, list[float], list[float]]:
    """Start ``count`` workflows, ``starters`` at a time; wait until every row is done."""
    prefix = f"{side.kind}-{uuid.uuid4().hex[:8]}-"
    ids = iter(range(count))
    started_at: dict[str, float] = {}
    start_latencies: list[float] = []
    limits = httpx.Limits(max_connections=starters, max_keepalive_connections=starters)
    async with httpx.AsyncClient(base_url=side.django_url, timeout=30, limits=limits) as http:

        async def starter() -> None:
            for number in ids:
                order_id = f"{prefix}{number}"
                started_at[order_id] = time.time()
                before = time.perf_counter()
                response = await http.post(f"/start/{order_id}")
                start_latencies.append(time.perf_counter() - before)
                if response.status_code != 202:
                    raise RuntimeError(
                        f"{side.name}: POST /start answered {response.status_code}: {response.text[:200]}"
                    )

        await asyncio.gather(*(starter() for _ in range(starters)))
    deadline = time.monotonic() + timeout
    while True:
        rows = await asyncio.to_thread(done_rows, prefix)
        if len(rows) == count:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"{side.name}: {count - len(rows)} of {count} workflows not done after {timeout:.0f} s")
        await asyncio.sleep(DONE_POLL)
    end_to_end = [done_at - started_at[order_id] for order_id, done_at in rows]
    seconds = max(done_at for _, done_at in rows) - min(started_at.values())
    return seconds, start_latencies, end_to_end


def cpu_sample(side: Side) -> dict[str, float]:
    sample = {part: tree_cpu(pid) for part, pid in side.pids().items()}
    sample["PostgreSQL"] = postgres_cpu()
    sample["load generator"] = time.process_time()  # this process: the starters and the done poll
    return sample


def measure(side: Side, count: int, starters: int, timeout: float, record: bool) -> None:
    before_cpu, before_invocations = cpu_sample(side), invocations(side) if side.kind != "dbos" else 0
    seconds, start_latencies, end_to_end = asyncio.run(one_round(side, count, starters, timeout))
    if not record:
        return
    for part, value in cpu_sample(side).items():
        side.cpu[part] = side.cpu.get(part, 0.0) + value - before_cpu[part]
    if side.kind != "dbos":
        side.invocations += invocations(side) - before_invocations
    side.workflows += count
    side.seconds += seconds
    side.start_latencies += start_latencies
    side.end_to_end += end_to_end
    print(f"  {side.name}: {count / seconds:.0f} workflows/s, end-to-end p50 {percentile(end_to_end, 50):.0f} ms")


def create_databases() -> Callable[[], None]:
    with connection._nodb_cursor() as cursor:  # what an interrupted run left behind
        for name in (BENCH_DB, DBOS_DB):
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    connection.settings_dict["TEST"]["NAME"] = BENCH_DB
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)

    def destroy() -> None:
        connection.close()
        with connection._nodb_cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{DBOS_DB}" WITH (FORCE)')
            cursor.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        connection.settings_dict["NAME"] = old_name

    return destroy


def sides_from(names: list[str]) -> list[Side]:
    sides = []
    for name in names:
        kind, _, server = name.partition("-")
        if kind == "dbos":
            sides.append(Side(f"DBOS, {server or 'uvicorn'}", "dbos", server or "uvicorn"))
        else:
            label = {"restate": "django-restate", "bare": "bare SDK"}[kind]
            sides.append(Side(f"{label}, {server}", kind, server))
    return sides


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workflows", type=int, default=1000, help="workflows per round and side")
    parser.add_argument("--starters", type=int, default=16, help="concurrent starters")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=200, help="workflows per side before measuring")
    parser.add_argument(
        "--sides",
        default="restate-uvicorn,restate-hypercorn,restate-granian,bare-uvicorn,bare-hypercorn,bare-granian,dbos",
        help="kind-server pairs; kind is restate, bare or dbos (dbos runs under uvicorn)",
    )
    parser.add_argument("--timeout", type=float, default=300, help="seconds a round may take")
    parser.add_argument("--limit", type=int, default=INVOCATIONS_LIMIT, help="workflows each side runs at once")
    parser.add_argument("--no-write", action="store_true", help="print, do not write bench/RESULTS.md")
    options = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped by SIGTERM"))  # so the servers are stopped too
    if connection.vendor != "postgresql":
        sys.exit("This benchmark runs on PostgreSQL (DBOS's system database): set DATABASE_URL to a postgres:// URL.")
    sides = sides_from(options.sides.split(","))
    dbos = next((side for side in sides if side.kind == "dbos"), None)
    control = Side(f"{dbos.name}, again", "dbos", dbos.server) if dbos else None
    load_before = os.getloadavg()[0]
    destroy = create_databases()
    try:
        with contextlib.ExitStack() as stack:
            for side in sides:
                start_side(side, stack, options.limit)
            if control is not None and dbos is not None:
                control.process, control.django_url = dbos.process, dbos.django_url
            measured = [*sides, *([control] if control else [])]
            for side in sides:
                measure(side, options.warmup, options.starters, options.timeout, record=False)
            for number in range(options.rounds):
                order = measured if number % 2 == 0 else measured[::-1]
                if control is not None:  # keep the two DBOS runs apart, so they see different moments
                    order = [s for s in order if s is not control]
                    order.insert(len(order) // 2, control)
                print(f"round {number + 1}")
                for side in order:
                    measure(side, options.workflows, options.starters, options.timeout, record=True)
    finally:
        destroy()
    markdown = report(measured, dbos, control, options, load_before)
    print(markdown)
    if not options.no_write:
        write_section("workflow_bench", markdown)


def report(measured: list[Side], dbos: Side | None, control: Side | None, options: argparse.Namespace,
           load_before: float) -> str:  # fmt: skip
    reference = None
    if dbos is not None and control is not None:  # both DBOS runs pooled
        reference = Side("DBOS", "dbos", "uvicorn")
        reference.workflows = dbos.workflows + control.workflows
        reference.seconds = dbos.seconds + control.seconds
        reference.end_to_end = dbos.end_to_end + control.end_to_end
    bare = {side.server: side for side in measured if side.kind == "bare"}
    rows = []
    for side in measured:
        e2e50, e2e99 = percentile(side.end_to_end, 50), percentile(side.end_to_end, 99)
        vs_dbos = vs_dbos_p50 = vs_bare = ""
        if reference is not None:
            vs_dbos = f"**{side.throughput / reference.throughput:.2f}x**"
            vs_dbos_p50 = f"**{e2e50 / percentile(reference.end_to_end, 50):.2f}x**"
        if side.kind == "restate" and side.server in bare:
            vs_bare = f"**{side.throughput / bare[side.server].throughput:.2f}x**"
        per_workflow = side.invocations / side.workflows if side.kind != "dbos" else None
        rows.append([
            side.name, side.workflows, f"{side.throughput:.0f}",
            f"{percentile(side.start_latencies, 50):.1f}", f"{e2e50:.0f}", f"{e2e99:.0f}",
            vs_dbos, vs_dbos_p50, vs_bare, "-" if per_workflow is None else f"{per_workflow:.2f}",
        ])  # fmt: skip
    parts = ["load generator", "Django", "restate-server", "PostgreSQL"]
    cpu_rows = [
        [side.name, *(f"{side.cpu[p] * 1000 / side.workflows:.1f}" if p in side.cpu else "-" for p in parts)]
        for side in measured
        if side is not control
    ]
    headers = ["side", "workflows", "workflows/s", "start p50 ms", "end-to-end p50 ms", "end-to-end p99 ms"]
    headers += ["throughput vs DBOS", "p50 vs DBOS", "throughput vs bare SDK", "endpoint requests per workflow"]
    noise = ""
    if dbos is not None and control is not None:
        noise = (
            f" Noise control: the DBOS side measured twice per round; again / first = "
            f"**{control.throughput / dbos.throughput:.2f}x** throughput, "
            f"{percentile(control.end_to_end, 50) / percentile(dbos.end_to_end, 50):.2f}x end-to-end p50."
        )
    return "\n\n".join(
        [
            "## Durable workflows from a Django view (`python -m bench.workflow_bench`)",
            "A workflow of three durable steps (insert an `Order` row, about 0.5 ms of hashing, update the row "
            "to done) started by `POST /start/<id>` (answers 202), on PostgreSQL with `CONN_MAX_AGE` on every "
            f"side. Per round and side {options.workflows} workflows from {options.starters} concurrent starters, "
            f"{options.rounds} rounds in alternating order after {options.warmup} warm-up workflows per side. "
            "Each side is one Django process that serves the view and runs the steps: django-restate "
            "(`django_restate.asgi`, `client.workflow(...).run.asend()`), the bare Restate SDK (`restate.app` "
            "at `/restate` next to Django's ASGI handler, the view POSTing to the ingress with httpx), each with "
            "its own restate-server; DBOS Transact (`DBOS.launch()` in `AppConfig.ready()`, "
            "`DBOS.start_workflow`). Throughput = workflows / (first start to last done); end-to-end = start "
            "to the row's `done_at`. Each side runs at most "
            f"{options.limit} workflows at once (DBOS: `max_executor_threads`; restate-server: "
            "`worker.invoker.concurrent-invocations-limit`). Targets (issue 15), for the recommended stack: "
            ">= 2.0x DBOS throughput, "
            "<= 0.5x its end-to-end p50, >= 0.95x the bare SDK's throughput on the same server." + noise,
            table(headers, rows),
            "CPU milliseconds per workflow during the measured rounds (from /proc; a process and its children; "
            "PostgreSQL counts every backend, other work on the machine included):",
            table(["side", *parts], cpu_rows),
            f"All processes share the machine ({os.cpu_count()} CPUs, load average {load_before:.1f} before and "
            f"{os.getloadavg()[0]:.1f} after the run).",
        ]
    )


if __name__ == "__main__":
    main()
