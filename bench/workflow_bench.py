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

Then every side is offered the same load, open loop: one start every ``1 / rate`` seconds, the rate
being ``--paced-share`` of DBOS's throughput in the closed-loop rounds, whatever the answers. Closed
loop, every side runs flat out and its latency is how much it lets in at once over its throughput;
open loop, below every side's limit, is the latency a workflow sees at a load both can carry.

A side may carry settings to compare (``restate-granian:RESTATE_DEFAULT_NUM_PARTITIONS=8``): the
environment of its Django process and its restate-server. ``BENCH_BACKPRESSURE=N`` sets
``RESTATE["BACKPRESSURE"]`` (``bench/workflow_settings.py``); the default sides include granian
with 12 (the demo's) and 24.

Measured per side: throughput (first start to last done), start latency (the POST), end-to-end
latency (start to the row's ``done_at``) and its two parts (start to the first step's
``first_step_at``, and from there to ``done_at``), CPU per workflow of the Django process, restate-server
and PostgreSQL (from /proc; PostgreSQL's counts every backend), and the requests Restate made to
the endpoint per workflow (counted by a wrapper around the ASGI app).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
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

import aiohttp  # noqa: E402
import httpx  # noqa: E402
from django.db import connection  # noqa: E402

from bench.procstat import postgres_cpu, tree_cpu  # noqa: E402
from bench.results import table, write_section  # noqa: E402
from bench.workflowbench.models import Order  # noqa: E402
from django_restate.admin_api import AdminAPI  # noqa: E402
from django_restate.deployments import register  # noqa: E402
from django_restate.testing.asgi_servers import server_command  # noqa: E402
from django_restate.testing.server import RestateServer, free_port, stop_group, wait_for_http  # noqa: E402

BENCH_DB = "django_restate_bench_workflow"
DBOS_DB = "django_restate_bench_workflow_dbos"
DONE_POLL = 0.02
#: How many workflows DBOS runs at once (``--limit``): its executor threads (a workflow holds one from
#: start to end); without a bound it exhausts PostgreSQL's connections (a Django connection per
#: thread). restate-server gets it as its ``concurrent-invocations-limit``, which it counts per
#: partition (24 of them), so there it does not bind: the Restate sides run what they are sent.
INVOCATIONS_LIMIT = 32


@dataclass
class Latencies:
    """Seconds, one sample per workflow: the POST /start, start to the last step (end to end), and
    its two parts: start to the first step, and the first step to the last."""

    start: list[float] = field(default_factory=list)
    end_to_end: list[float] = field(default_factory=list)
    to_first_step: list[float] = field(default_factory=list)
    steps: list[float] = field(default_factory=list)

    def __iadd__(self, other: Latencies) -> Latencies:
        for sample in dataclasses.fields(self):
            getattr(self, sample.name).extend(getattr(other, sample.name))
        return self


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
    latencies: Latencies = field(default_factory=Latencies)
    cpu: dict[str, float] = field(default_factory=dict)
    invocations: int = 0
    #: The open-loop rounds at the same offered load for every side (``--paced-share``).
    paced: Latencies = field(default_factory=Latencies)
    extra_env: dict[str, str] = field(default_factory=dict)

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
        **side.extra_env,
    }
    if side.kind == "dbos":
        env |= {"BENCH_DBOS_LAUNCH": "1", "DBOS_SYSTEM_DATABASE_URL": database_url(DBOS_DB),
                "BENCH_DBOS_THREADS": str(limit)}  # fmt: skip
    else:
        bound = {"RESTATE_WORKER__INVOKER__CONCURRENT_INVOCATIONS_LIMIT": str(limit)}
        side.restate = stack.enter_context(RestateServer(env=bound | side.extra_env))
        env |= {"RESTATE_INGRESS_URL": side.restate.ingress_url, "RESTATE_ADMIN_URL": side.restate.admin_url}
    port = free_port()
    # A session of its own: the bare SDK ignores SIGTERM (it replaces the server's handler), which
    # leaves granian's worker process behind when its main process exits; stop_group kills the group.
    command = server_command(side.server, "bench.workflowbench.asgi:application", port, log_level="error")
    side.process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    stack.callback(stop_group, side.process)
    side.django_url = f"http://127.0.0.1:{port}"
    wait_for_http(f"{side.django_url}/bench/invocations", process=side.process)
    if side.restate is not None:
        with AdminAPI(side.restate.admin_url) as admin:
            registration = register(admin, f"{side.django_url}/restate")
        print(f"{side.name}: endpoint registered, {registration.protocol}")


def invocations(side: Side) -> int:
    return int(httpx.get(f"{side.django_url}/bench/invocations").text)


def done_count(prefix: str) -> int:
    return Order.objects.filter(order_id__startswith=prefix, done_at__isnull=False).count()


def done_rows(prefix: str) -> list[tuple[str, float, float]]:
    rows = Order.objects.filter(order_id__startswith=prefix, done_at__isnull=False)
    return list(rows.values_list("order_id", "first_step_at", "done_at"))


async def one_round(
    side: Side, count: int, starters: int, timeout: float, rate: float | None = None
) -> tuple[float, Latencies]:
    """Start ``count`` workflows and wait until every row is done: from ``starters`` closed-loop
    starters (each POSTs the next start when the last answered), or, given ``rate``, one start
    every ``1 / rate`` seconds whatever the answers (open loop, at most 64 POSTs in flight)."""
    prefix = f"{side.kind}-{uuid.uuid4().hex[:8]}-"
    started_at: dict[str, float] = {}
    latencies = Latencies()
    # aiohttp, not httpx: the load generator shares the machine's two CPUs with what it measures,
    # and takes less of them this way.
    connector = aiohttp.TCPConnector(limit=starters if rate is None else 64)
    async with aiohttp.ClientSession(side.django_url, connector=connector, cookie_jar=aiohttp.DummyCookieJar()) as http:

        async def start(number: int) -> None:
            order_id = f"{prefix}{number}"
            started_at[order_id] = time.time()
            before = time.perf_counter()
            async with http.post(f"/start/{order_id}") as response:
                body = await response.read()
            latencies.start.append(time.perf_counter() - before)
            if response.status != 202:
                raise RuntimeError(f"{side.name}: POST /start answered {response.status}: {body[:200]!r}")

        if rate is None:
            ids = iter(range(count))

            async def starter() -> None:
                for number in ids:
                    await start(number)

            await asyncio.gather(*(starter() for _ in range(starters)))
        else:
            begin, tasks = time.perf_counter(), []
            for number in range(count):
                await asyncio.sleep(max(0.0, begin + number / rate - time.perf_counter()))
                tasks.append(asyncio.create_task(start(number)))
            await asyncio.gather(*tasks)
    # The rows carry their own done_at, so how often this looks changes no latency, only what the
    # looking costs the machine: a COUNT until every row is done, then the rows once.
    deadline = time.monotonic() + timeout
    while (done := await asyncio.to_thread(done_count, prefix)) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{side.name}: {count - done} of {count} workflows not done after {timeout:.0f} s")
        await asyncio.sleep(DONE_POLL)
    rows = await asyncio.to_thread(done_rows, prefix)
    for order_id, first_step_at, done_at in rows:
        latencies.end_to_end.append(done_at - started_at[order_id])
        latencies.to_first_step.append(first_step_at - started_at[order_id])
        latencies.steps.append(done_at - first_step_at)
    seconds = max(done_at for *_, done_at in rows) - min(started_at.values())
    return seconds, latencies


def cpu_sample(side: Side) -> dict[str, float]:
    sample = {part: tree_cpu(pid) for part, pid in side.pids().items()}
    sample["PostgreSQL"] = postgres_cpu()
    sample["load generator"] = time.process_time()  # this process: the starters and the done poll
    return sample


def measure(side: Side, count: int, starters: int, timeout: float, record: bool) -> None:
    before_cpu, before_invocations = cpu_sample(side), invocations(side) if side.kind != "dbos" else 0
    seconds, latencies = asyncio.run(one_round(side, count, starters, timeout))
    if not record:
        return
    for part, value in cpu_sample(side).items():
        side.cpu[part] = side.cpu.get(part, 0.0) + value - before_cpu[part]
    if side.kind != "dbos":
        side.invocations += invocations(side) - before_invocations
    side.workflows += count
    side.seconds += seconds
    side.latencies += latencies
    p50 = percentile(latencies.end_to_end, 50)
    print(f"  {side.name}: {count / seconds:.0f} workflows/s, end-to-end p50 {p50:.0f} ms")


def measure_paced(side: Side, count: int, rate: float, timeout: float) -> None:
    _, latencies = asyncio.run(one_round(side, count, 0, timeout, rate=rate))
    side.paced += latencies
    print(
        f"  {side.name}: {rate:.0f} workflows/s offered, end-to-end p50 {percentile(latencies.end_to_end, 50):.0f} ms"
    )


def round_order(measured: list[Side], control: Side | None, number: int) -> list[Side]:
    """The sides in round ``number``'s order: reversed every other round, the DBOS control in the middle."""
    order = measured if number % 2 == 0 else measured[::-1]
    if control is not None:  # keep the two DBOS runs apart, so they see different moments
        order = [s for s in order if s is not control]
        order.insert(len(order) // 2, control)
    return order


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
        name, _, variant = name.partition(":")
        settings = [pair for pair in variant.split("+") if pair]
        if any("=" not in pair for pair in settings):
            sys.exit(f"--sides: {variant!r} is not NAME=value settings joined by '+'")
        extra = dict(pair.split("=", 1) for pair in settings)
        suffix = f" {variant}" if variant else ""
        kind, _, server = name.partition("-")
        if kind == "dbos":
            server = server or "uvicorn"
            sides.append(Side(f"DBOS, {server}{suffix}", "dbos", server, extra_env=extra))
        else:
            label = {"restate": "django-restate", "bare": "bare SDK"}[kind]
            sides.append(Side(f"{label}, {server}{suffix}", kind, server, extra_env=extra))
    return sides


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workflows", type=int, default=1000, help="workflows per round and side")
    parser.add_argument("--starters", type=int, default=16, help="concurrent starters")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=200, help="workflows per side before measuring")
    parser.add_argument(
        "--sides",
        default="restate-uvicorn,restate-hypercorn,restate-granian,restate-granian:BENCH_BACKPRESSURE=12,"
        "restate-granian:BENCH_BACKPRESSURE=24,"
        "bare-uvicorn,bare-hypercorn,bare-granian,dbos",
        help="kind-server pairs; kind is restate, bare or dbos (dbos runs under uvicorn); a pair may end in "
        "':NAME=value+NAME=value', environment for that side's processes (its restate-server's too), to compare "
        "settings side by side",
    )
    parser.add_argument("--timeout", type=float, default=300, help="seconds a round may take")
    parser.add_argument(
        "--limit",
        type=int,
        default=INVOCATIONS_LIMIT,
        help="workflows DBOS runs at once (restate-server gets it per partition)",
    )
    parser.add_argument("--paced-rounds", type=int, default=2, help="open-loop rounds at the same offered load")
    parser.add_argument("--paced-workflows", type=int, default=500, help="workflows per open-loop round and side")
    parser.add_argument(
        "--paced-share", type=float, default=0.5, help="the open-loop rate, as a share of DBOS's closed-loop throughput"
    )
    parser.add_argument("--no-write", action="store_true", help="print, do not write bench/RESULTS.md")
    options = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped by SIGTERM"))  # so the servers are stopped too
    if connection.vendor != "postgresql":
        sys.exit("This benchmark runs on PostgreSQL (DBOS's system database): set DATABASE_URL to a postgres:// URL.")
    sides = sides_from(options.sides.split(","))
    check_connections(sides, options.limit)
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
                print(f"round {number + 1}")
                for side in round_order(measured, control, number):
                    measure(side, options.workflows, options.starters, options.timeout, record=True)
            if dbos is not None and control is not None and options.paced_rounds:
                rate = options.paced_share * pooled(dbos, control).throughput
                for number in range(options.paced_rounds):
                    print(f"open-loop round {number + 1}")
                    for side in round_order(measured, control, number):
                        measure_paced(side, options.paced_workflows, rate, options.timeout)
    finally:
        destroy()
    markdown = report(measured, dbos, control, options, load_before)
    print(markdown)
    if not options.no_write:
        write_section("workflow_bench", markdown)


#: PostgreSQL connections a Restate side can hold at once (CONN_MAX_AGE: one per step thread and
#: request thread that touched the ORM); a DBOS side holds one per executor thread and its pool's.
RESTATE_SIDE_CONNECTIONS = 12
DBOS_POOL_CONNECTIONS = 25


def check_connections(sides: list[Side], limit: int) -> None:
    """Refuse to start a run PostgreSQL cannot serve: it would fail halfway, "too many clients"."""
    needed = sum(limit + DBOS_POOL_CONNECTIONS if s.kind == "dbos" else RESTATE_SIDE_CONNECTIONS for s in sides) + 5
    with connection.cursor() as cursor:
        cursor.execute("SHOW max_connections")
        available = int(cursor.fetchone()[0])
    if available < needed:
        sys.exit(
            f"These sides may hold up to {needed} PostgreSQL connections at once and max_connections is "
            f"{available}: raise it (ALTER SYSTEM SET max_connections = {needed}; then restart PostgreSQL), "
            "or run fewer sides."
        )


def pooled(dbos: Side, control: Side) -> Side:
    """Both DBOS runs as one side: the reference the other sides are compared with."""
    reference = Side("DBOS", "dbos", dbos.server)
    reference.workflows = dbos.workflows + control.workflows
    reference.seconds = dbos.seconds + control.seconds
    reference.latencies += dbos.latencies
    reference.latencies += control.latencies
    reference.paced += dbos.paced
    reference.paced += control.paced
    return reference


#: The latency columns of both tables; end to end = to the first step + first to last step.
LATENCY_HEADERS = ["start p50 ms", "to first step p50 ms", "first to last step p50 ms", "end-to-end p50 ms",
                   "end-to-end p99 ms"]  # fmt: skip


def latency_cells(latencies: Latencies) -> list[str]:
    return [
        f"{percentile(latencies.start, 50):.1f}",
        f"{percentile(latencies.to_first_step, 50):.1f}",
        f"{percentile(latencies.steps, 50):.1f}",
        f"{percentile(latencies.end_to_end, 50):.0f}",
        f"{percentile(latencies.end_to_end, 99):.0f}",
    ]


def report(measured: list[Side], dbos: Side | None, control: Side | None, options: argparse.Namespace,
           load_before: float) -> str:  # fmt: skip
    reference = pooled(dbos, control) if dbos is not None and control is not None else None
    bare = {side.server: side for side in measured if side.kind == "bare"}
    rows = []
    for side in measured:
        e2e50 = percentile(side.latencies.end_to_end, 50)
        vs_dbos = vs_dbos_p50 = vs_bare = ""
        if reference is not None:
            vs_dbos = f"**{side.throughput / reference.throughput:.2f}x**"
            vs_dbos_p50 = f"**{e2e50 / percentile(reference.latencies.end_to_end, 50):.2f}x**"
        if side.kind == "restate" and side.server in bare:
            vs_bare = f"**{side.throughput / bare[side.server].throughput:.2f}x**"
        per_workflow = side.invocations / side.workflows if side.kind != "dbos" else None
        rows.append([
            side.name, side.workflows, f"{side.throughput:.0f}", *latency_cells(side.latencies),
            vs_dbos, vs_dbos_p50, vs_bare, "-" if per_workflow is None else f"{per_workflow:.2f}",
        ])  # fmt: skip
    parts = ["load generator", "Django", "restate-server", "PostgreSQL"]
    cpu_rows = [
        [side.name, *(f"{side.cpu[p] * 1000 / side.workflows:.1f}" if p in side.cpu else "-" for p in parts)]
        for side in measured
        if side is not control
    ]
    headers = ["side", "workflows", "workflows/s", *LATENCY_HEADERS]
    headers += ["throughput vs DBOS", "p50 vs DBOS", "throughput vs bare SDK", "endpoint requests per workflow"]
    noise = ""
    if dbos is not None and control is not None:
        noise = (
            f" Noise control: the DBOS side measured twice per round; again / first = "
            f"**{control.throughput / dbos.throughput:.2f}x** throughput, "
            f"{percentile(control.latencies.end_to_end, 50) / percentile(dbos.latencies.end_to_end, 50):.2f}x "
            "end-to-end p50."
        )
    paced = paced_section(measured, dbos, control, reference, options)
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
            f"to the row's `done_at`. DBOS runs at most {options.limit} workflows at once "
            "(`max_executor_threads`); restate-server gets the same number as its "
            "`worker.invoker.concurrent-invocations-limit`, which it counts per partition (24), so it does not "
            "bind. A side ending in `BENCH_BACKPRESSURE=N` runs with `RESTATE[\"BACKPRESSURE\"] = N`: a send waits "
            "while N invocations are in flight in the process, running or sent and not started yet "
            "(docs/serving.md, \"Backpressure\"). "
            "Targets (issue 15), for the recommended stack: "
            ">= 2.0x DBOS throughput, "
            "<= 0.5x its end-to-end p50, >= 0.95x the bare SDK's throughput on the same server." + noise,
            table(headers, rows),
            "CPU milliseconds per workflow during the measured rounds (from /proc; a process and its children; "
            "PostgreSQL counts every backend, other work on the machine included):",
            table(["side", *parts], cpu_rows),
            *paced,
            f"All processes share the machine ({os.cpu_count()} CPUs, load average {load_before:.1f} before and "
            f"{os.getloadavg()[0]:.1f} after the run).",
        ]
    )


def paced_section(measured: list[Side], dbos: Side | None, control: Side | None, reference: Side | None,
                  options: argparse.Namespace) -> list[str]:  # fmt: skip
    """The open-loop rounds: every side offered the same starts per second."""
    if dbos is None or control is None or reference is None or not reference.paced.end_to_end:
        return []
    rate = options.paced_share * reference.throughput
    reference_p50 = percentile(reference.paced.end_to_end, 50)
    rows = [
        [side.name, len(side.paced.end_to_end), *latency_cells(side.paced),
         f"**{percentile(side.paced.end_to_end, 50) / reference_p50:.2f}x**"]
        for side in measured
    ]  # fmt: skip
    noise = percentile(control.paced.end_to_end, 50) / percentile(dbos.paced.end_to_end, 50)
    return [
        f"The same workflows at the same offered load, open loop: one start every {1000 / rate:.1f} ms "
        f"({rate:.0f} workflows/s, {options.paced_share:g} of DBOS's throughput above) whatever the answers, "
        f"{options.paced_rounds} rounds of {options.paced_workflows} per side. With the closed-loop starters "
        "above every side runs as fast as it can, so its end-to-end latency is how many workflows it lets in "
        "at once over its throughput; here no side is pushed past what it can do. Noise control: DBOS again "
        f"/ first = {noise:.2f}x end-to-end p50.",
        table(["side", "workflows", *LATENCY_HEADERS, "p50 vs DBOS"], rows),
    ]


if __name__ == "__main__":
    main()
