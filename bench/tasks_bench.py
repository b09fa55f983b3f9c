"""Django Tasks end to end: enqueue to SUCCESSFUL of a no-op task, 32 in flight, RestateBackend
against django-tasks-db's DatabaseBackend with its ``db_worker``, on the same PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python -m bench.tasks_bench

Each side is one Django process doing the work: for RestateBackend, uvicorn serving the
project's endpoint (HTTP/1.1, as the test suite serves it), invoked by a restate-server; for
the database backend, one ``manage.py db_worker``. The load generator (this process) keeps 32
tasks in flight on one side at a time, the sides alternating round by round so drift hits both.

Latency = from calling ``aenqueue()`` to seeing the task SUCCESSFUL, by each side's cheapest way
to notice: RestateBackend attaches to the task's workflow (Restate answers when it ends); for the
database backend one query every 5 ms looks for finished rows among all those in flight (no
per-task polling load). "Recorded" is the backend's own ``finished_at - enqueued_at``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
os.environ["DJANGO_SETTINGS_MODULE"] = "bench.tasks_settings"
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
sys.path.insert(0, str(ROOT))

import django  # noqa: E402

django.setup()

from asgiref.sync import sync_to_async  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import override_settings  # noqa: E402

from bench.procstat import postgres_cpu, tree_cpu  # noqa: E402
from bench.results import table, write_section  # noqa: E402
from bench.taskbench.tasks import noop, noop_db  # noqa: E402
from django_restate.admin_api import AdminAPI  # noqa: E402
from django_restate.client import client  # noqa: E402
from django_restate.deployments import register  # noqa: E402
from django_restate.tasks.restate_services import DjangoTask  # noqa: E402
from django_restate.testing.asgi_servers import server_command  # noqa: E402
from django_restate.testing.server import RestateServer, free_port, stop_group, wait_for_http  # noqa: E402

BENCH_DB = "django_restate_bench_tasks"
IN_FLIGHT = 32
POLL = 0.005
DB_WORKER_INTERVAL = 0.01  # the worker's sleep when it finds no task (default 1 s): the shortest it accepts well


@dataclass
class Run:
    side: str
    tasks: int = 0
    seconds: float = 0.0
    observed: list[float] = field(default_factory=list)
    recorded: list[float] = field(default_factory=list)

    def add(self, other: Run) -> None:
        """Pool another round of the same side."""
        self.tasks += other.tasks
        self.seconds += other.seconds
        self.observed += other.observed
        self.recorded += other.recorded

    @property
    def throughput(self) -> float:
        return self.tasks / self.seconds

    def p(self, values: list[float], q: int) -> float:
        return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000


def database_url(name: str) -> str:
    return os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/" + name


def spawn(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    # A session of its own, so that stopping it reaches a server's worker processes too.
    env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)


async def closed_loop(side: str, count: int, one: Any) -> Run:
    """``count`` tasks, ``IN_FLIGHT`` at a time, each timed from enqueue to SUCCESSFUL."""
    run = Run(side)
    left = iter(range(count))

    async def worker() -> None:
        for _ in left:
            started = time.perf_counter()
            recorded = await one()
            run.observed.append(time.perf_counter() - started)
            run.recorded.append(recorded)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
    run.seconds = time.perf_counter() - began
    run.tasks = count
    return run


async def restate_round(urls: dict[str, str], count: int) -> Run:
    async def one() -> float:
        result = await noop.aenqueue()
        state = await client.workflow(DjangoTask, result.id).run.aattach()
        assert state["status"] == "SUCCESSFUL", state
        return float(state["finished_at"] - state["job"]["enqueued_at"])

    with override_settings(RESTATE=urls):
        return await closed_loop("RestateBackend", count, one)


async def database_round(count: int) -> Run:
    from django_tasks_db.models import DBTaskResult

    waiting: dict[str, asyncio.Future[tuple[str, float]]] = {}
    stop = asyncio.Event()

    def finished(ids: list[str]) -> list[tuple[Any, str, Any, Any]]:
        rows = DBTaskResult.objects.filter(id__in=ids, status__in=["SUCCESSFUL", "FAILED"])
        return list(rows.values_list("id", "status", "enqueued_at", "finished_at"))

    async def poller() -> None:
        while not stop.is_set():
            if waiting:
                for pk, status, enqueued_at, finished_at in await sync_to_async(finished)(list(waiting)):
                    future = waiting.pop(str(pk), None)
                    if future is not None:
                        future.set_result((status, (finished_at - enqueued_at).total_seconds()))
            await asyncio.sleep(POLL)

    async def one() -> float:
        result = await noop_db.aenqueue()
        future = waiting[str(result.id)] = asyncio.get_running_loop().create_future()
        status, recorded = await future
        assert status == "SUCCESSFUL", status
        return recorded

    polling = asyncio.create_task(poller())
    try:
        return await closed_loop("django-tasks-db + db_worker", count, one)
    finally:
        stop.set()
        await polling


def serve(server: str, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    # One process each: uvicorn speaks HTTP/1.1 (Restate re-invokes the endpoint after each step);
    # hypercorn and granian (what the docs recommend) speak HTTP/2 (steps acknowledged on the stream).
    port = free_port()
    process = spawn(server_command(server, "bench.asgi:application", port, log_level="error"), env)
    wait_for_http(f"http://127.0.0.1:{port}/restate/health", process=process)
    return process, f"http://127.0.0.1:{port}/restate"


def cpu_sample(side: dict[str, int]) -> dict[str, float]:
    sample = {part: tree_cpu(pid) for part, pid in side.items()}
    times = os.times()
    sample["load generator"] = times.user + times.system
    sample["PostgreSQL"] = postgres_cpu()
    return sample


def close_other_sessions() -> None:
    """The load generator's own threads keep connections to the bench database open."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [BENCH_DB],
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=500, help="tasks per round and side")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--servers", default="uvicorn,granian", help="how RestateBackend's endpoint is served")
    options = parser.parse_args()
    servers = options.servers.split(",")
    if connection.vendor != "postgresql":
        sys.exit("This benchmark compares on PostgreSQL: set DATABASE_URL to a postgres:// URL.")
    connection.settings_dict["TEST"]["NAME"] = BENCH_DB
    load_before = os.getloadavg()[0]
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    processes: list[subprocess.Popen[bytes]] = []
    database_side = "django-tasks-db + db_worker"
    totals = {name: Run(name) for name in [*(f"RestateBackend, {s}" for s in servers), database_side]}
    rounds: dict[str, Any] = {}
    pids: dict[str, dict[str, int]] = {}
    cpu: dict[str, dict[str, float]] = {name: {} for name in totals}
    try:
        with contextlib.ExitStack() as stack:
            env = {"DJANGO_SETTINGS_MODULE": "bench.tasks_settings", "DATABASE_URL": database_url(BENCH_DB)}
            for server in servers:  # a restate-server each, so each deployment serves its own
                restate = stack.enter_context(RestateServer())
                process, deployment = serve(server, {**env, "RESTATE_INGRESS_URL": restate.ingress_url})
                processes.append(process)
                with AdminAPI(restate.admin_url) as admin:
                    register(admin, deployment)
                urls = {"INGRESS_URL": restate.ingress_url, "ADMIN_URL": restate.admin_url}
                rounds[f"RestateBackend, {server}"] = functools.partial(restate_round, urls)
                assert restate.process is not None
                pids[f"RestateBackend, {server}"] = {"restate-server": restate.process.pid, "Django": process.pid}
            worker = [sys.executable, "-m", "django", "db_worker", "--backend", "database"]
            worker += ["--interval", str(DB_WORKER_INTERVAL), "--no-startup-delay", "--verbosity", "0"]
            processes.append(spawn(worker, env))
            rounds[database_side] = database_round
            pids[database_side] = {"Django": processes[-1].pid}
            for side in rounds.values():  # warm-up: connections, imports, caches
                asyncio.run(side(200))
            for number in range(options.rounds):
                order = list(rounds) if number % 2 == 0 else list(reversed(rounds))
                for name in order:
                    before = cpu_sample(pids[name])
                    run = asyncio.run(rounds[name](options.tasks))
                    for part, seconds in cpu_sample(pids[name]).items():
                        cpu[name][part] = cpu[name].get(part, 0.0) + seconds - before[part]
                    print(f"round {number + 1} {name}: {run.throughput:.0f}/s p50 {run.p(run.observed, 50):.1f} ms")
                    totals[name].add(run)
    finally:
        for process in processes:
            stop_group(process)
        close_other_sessions()
        connection.creation.destroy_test_db(old_name, verbosity=0)

    database = totals[database_side]
    rows = []
    for name, run in totals.items():
        is_database = run is database
        rows.append(
            [
                name,
                run.tasks,
                f"{run.throughput:.0f}",
                f"{run.p(run.observed, 50):.1f}",
                f"{run.p(run.observed, 99):.1f}",
                f"{run.p(run.recorded, 50):.1f}",
                "1" if is_database else f"**{run.throughput / database.throughput:.2f}x**",
                "1" if is_database else f"**{run.p(run.observed, 50) / database.p(database.observed, 50):.2f}x**",
            ]
        )
    parts = ["load generator", "restate-server", "Django", "PostgreSQL"]
    cpu_rows = [
        [name, *(f"{cpu[name][part] * 1000 / run.tasks:.1f}" if part in cpu[name] else "-" for part in parts)]
        for name, run in totals.items()
    ]
    headers = ["backend", "tasks", "tasks/s", "observed p50 ms", "observed p99 ms", "recorded p50 ms"]
    headers += ["throughput vs database", "p50 vs database"]
    markdown = "\n\n".join(
        [
            "## Django Tasks end to end (`python -m bench.tasks_bench`)",
            f"A no-op task, enqueue to SUCCESSFUL, {IN_FLIGHT} in flight, {options.rounds} alternating rounds of "
            f"{options.tasks} tasks per side after a 200-task warm-up, one PostgreSQL database. RestateBackend "
            "with its defaults (ATOMIC: the task's transaction records the attempt once), its endpoint served by "
            "one process (uvicorn: HTTP/1.1; hypercorn `--workers 0`, granian: HTTP/2), each with its own "
            "restate-server; "
            f"django-tasks-db 0.13 with one `db_worker` (`--interval {DB_WORKER_INTERVAL}`). Observed = "
            "`aenqueue()` until the load generator sees SUCCESSFUL (RestateBackend: attach to the workflow; "
            "database: one query every 5 ms over all tasks in flight); recorded = the backend's "
            "`finished_at - enqueued_at`. Targets: throughput >= 1.0x, p50 <= 0.5x of the database backend's.",
            table(headers, rows),
            "CPU milliseconds per task during the measured rounds, by process (from /proc; PostgreSQL counts all "
            "its processes, which other work on the machine shares):",
            table(["backend", *parts], cpu_rows),
            "Where a RestateBackend task's work goes: the load generator makes two ingress requests (start "
            "the workflow, attach to it); restate-server journals the workflow's input, three state writes, two "
            "steps (the attempt's RUNNING record with its time and process, then the call) and the output; the "
            "endpoint is invoked three times over HTTP/1.1 (Restate re-invokes it after each step and it replays "
            "the journal) and once over HTTP/2 (steps acknowledged on the open stream); the attempt's "
            "transaction is four statements (look up the attempt record, BEGIN, INSERT it, COMMIT). The database "
            "backend's task is one INSERT by the load generator and the worker's claim (SELECT ... FOR UPDATE "
            "SKIP LOCKED, UPDATE) and result UPDATE, with no further process in between.",
            f"All processes share the machine ({os.cpu_count()} CPUs, load average {load_before:.1f} before and "
            f"{os.getloadavg()[0]:.1f} after the run; other work shared the CPUs).",
        ]
    )
    write_section("tasks_bench", markdown)
    print(markdown)


if __name__ == "__main__":
    main()
