"""Machinery shared by the reliability tests and ``bench/reliability_load.py``.

* :class:`DjangoProcess` serves the project's ASGI application in a subprocess on a
  fixed port (a :class:`~django_restate.testing.asgi_servers.DjangoReplica` with this
  suite's settings), so a test can ``kill -9`` or ``SIGTERM`` it and start it again
  where Restate expects it.
* :func:`drive_increments` sends a fixed set of counter increments through the
  Restate ingress with bounded concurrency, each with its own idempotency key,
  retrying the *same* key after transport errors: that is how a client gets
  exactly-once through a crash.
* :func:`sustain` keeps a given concurrency of increments going for a while and
  samples the server's memory and database connections.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from django_restate.testing import aeventually
from django_restate.testing.asgi_servers import DjangoReplica

ROOT = Path(__file__).resolve().parents[2]
COUNTER = "ReliabilityCounter"
SETTINGS = "tests.reliability.subprocess_settings"
APPLICATION = "demo_project.asgi:application"
PG_APPLICATION_NAME = "reliability-uvicorn"
KEYS = 100
CONCURRENCY = 50
#: The server the reliability tests stop, kill and restart: the one docs/serving.md recommends.
SERVER = os.environ.get("RELIABILITY_SERVER", "granian")


class DjangoProcess(DjangoReplica):
    """``demo_project.asgi:application`` with the reliability suite's settings (database
    ``database_name``), served in a subprocess by :data:`SERVER` (granian, the server the docs
    recommend, unless ``RELIABILITY_SERVER`` says uvicorn)."""

    def __init__(
        self,
        database_name: str,
        log_path: Path,
        graceful_timeout: int = 5,
        env: dict[str, str] | None = None,
        server: str | None = None,
    ) -> None:
        settings = {"DJANGO_SETTINGS_MODULE": SETTINGS, "RELIABILITY_DATABASE_NAME": database_name}
        env = {**settings, "PYTHONPATH": str(ROOT), **(env or {})}
        server = server or SERVER
        super().__init__(APPLICATION, env, log_path, cwd=ROOT, graceful_timeout=graceful_timeout, server=server)
        self.database_name = database_name

    @property
    def deployment_url(self) -> str:
        return self.url + "/restate"

    def ensure_running(self) -> None:
        if not self.alive:
            self.start()

    def close(self) -> None:
        self.kill()

    def rss_bytes(self) -> int:
        """Resident memory of the server process, from /proc."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS in /proc status")

    def open_files_under(self, prefix: str) -> int:
        """How many of the server's file descriptors point at files whose path starts with ``prefix``."""
        count = 0
        for fd in Path(f"/proc/{self.pid}/fd").iterdir():
            try:
                if os.readlink(fd).startswith(prefix):
                    count += 1
            except OSError:  # closed while we looked
                continue
        return count

    def __enter__(self) -> DjangoProcess:
        self.start(30.0)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def db_connection_counter(
    settings: dict[str, Any], server: DjangoProcess
) -> tuple[Callable[[], int], Callable[[], None]]:
    """(count, close): the server's open connections to the database it uses.

    PostgreSQL: its sessions in ``pg_stat_activity`` (the subprocess settings tag
    them with an application name). SQLite has no server to ask: count the
    server's open file descriptors on the database file (and its journal), one
    per open connection.
    """
    if settings["ENGINE"].endswith("postgresql"):
        import psycopg

        pg = psycopg.connect(
            dbname=settings["NAME"],
            user=settings["USER"] or None,
            password=settings["PASSWORD"] or None,
            host=settings["HOST"] or None,
            port=settings["PORT"] or None,
            autocommit=True,
        )

        def count() -> int:
            row = pg.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [PG_APPLICATION_NAME]
            ).fetchone()
            return int(row[0]) if row else 0

        return count, pg.close
    path = str(settings["NAME"])
    return (lambda: server.open_files_under(path)), (lambda: None)


# -- a fixed batch of increments, exactly once through faults -------------------------------------


@dataclass
class Increment:
    key: str
    token: str  # the idempotency key: retried unchanged until the ingress acknowledges
    status: int = 0
    value: int | None = None
    tries: int = 0
    error: str = ""


@dataclass
class Progress:
    sent: int = 0
    acknowledged: int = 0
    transport_errors: int = 0


async def drive_increments(
    ingress_url: str,
    increments: list[Increment],
    concurrency: int = 50,
    progress: Progress | None = None,
    give_up_after: float = 120.0,
) -> list[Increment]:
    """POST each increment to ``ReliabilityCounter/{key}/add`` until Restate acknowledges it.

    A transport error or a 5xx means "unknown whether it was applied": the same
    idempotency key is sent again, so Restate either attaches to the original
    invocation or runs it for the first time, never twice. A 4xx is final.
    """
    progress = progress or Progress()
    gate = asyncio.Semaphore(concurrency)
    deadline = time.monotonic() + give_up_after
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(base_url=ingress_url, timeout=60, limits=limits) as client:

        async def one(inc: Increment) -> None:
            async with gate:
                progress.sent += 1
                while True:
                    inc.tries += 1
                    try:
                        response = await client.post(
                            f"/{COUNTER}/{inc.key}/add", json=1, headers={"idempotency-key": inc.token}
                        )
                    except httpx.TransportError as exc:
                        progress.transport_errors += 1
                        inc.error = type(exc).__name__
                    else:
                        inc.status = response.status_code
                        if response.status_code < 500:
                            if response.status_code == 200:
                                inc.value = response.json()
                                progress.acknowledged += 1
                            else:
                                inc.error = response.text[:200]
                            return
                        inc.error = response.text[:200]
                    if time.monotonic() > deadline:
                        return
                    await asyncio.sleep(0.2)

        await asyncio.gather(*(one(inc) for inc in increments))
    return increments


def plan_increments(run: str, keys: int, per_key: int) -> list[Increment]:
    """``keys * per_key`` increments of 1, interleaved across keys, each with its own idempotency key."""
    return [Increment(key=f"{run}-k{k}", token=f"{run}-k{k}-{i}") for i in range(per_key) for k in range(keys)]


def counter_values(ingress_url: str, keys: list[str]) -> dict[str, int]:
    """Each key's value, read through the object's shared handler."""
    with httpx.Client(base_url=ingress_url, timeout=30) as client:
        return {key: client.post(f"/{COUNTER}/{key}/value").json() for key in keys}


Fault = Callable[[Progress], Awaitable[None]]


def run_with_faults(ingress_url: str, run_id: str, per_key: int, faults: list[tuple[int, Fault]]) -> list[Increment]:
    """Send ``KEYS * per_key`` increments; run each fault once that many have been acknowledged."""
    increments = plan_increments(run_id, KEYS, per_key)
    progress = Progress()

    async def scenario() -> list[Increment]:
        load = asyncio.create_task(drive_increments(ingress_url, increments, CONCURRENCY, progress))
        for after, fault in faults:

            def acknowledged(n: int = after) -> None:
                assert progress.acknowledged >= n or load.done(), f"{progress.acknowledged} of {n} acknowledged"

            await aeventually(acknowledged, 120, 0.02)
            assert not load.done(), "the load finished before the fault; nothing was in flight"
            await fault(progress)
        return await load

    return asyncio.run(scenario())


def assert_exactly_once(ingress_url: str, increments: list[Increment], per_key: int) -> None:
    failed = [inc for inc in increments if inc.status != 200]
    assert not failed, f"{len(failed)} increments never acknowledged, e.g. {failed[:3]}"
    by_key: dict[str, list[int]] = {}
    for inc in increments:
        assert inc.value is not None
        by_key.setdefault(inc.key, []).append(inc.value)
    for key, values in by_key.items():
        assert sorted(values) == list(range(1, per_key + 1)), f"{key} acknowledged {sorted(values)}"
    assert counter_values(ingress_url, sorted(by_key)) == dict.fromkeys(by_key, per_key)
    from tests.reliability_app.models import IncrementAudit  # needs Django set up

    audits = IncrementAudit.objects.filter(key__in=by_key)
    assert audits.count() == KEYS * per_key
    assert audits.values("invocation_id").distinct().count() == KEYS * per_key


# -- sustained load ---------------------------------------------------------------------------


@dataclass
class Sample:
    at: float
    rss: int
    connections: int


@dataclass
class LoadResult:
    concurrency: int
    duration: float
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    per_key: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> int:
        return len(self.latencies)

    @property
    def throughput(self) -> float:
        return self.ok / self.duration

    def percentile(self, q: int) -> float:
        if len(self.latencies) < 2:
            return self.latencies[0] if self.latencies else 0.0
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[q - 1]

    def rss_growth(self, warmup: float = 10.0) -> int:
        """Peak RSS after the warm-up minus RSS at the end of the warm-up."""
        start = self.samples[0].at
        warm = [s for s in self.samples if s.at - start >= warmup]
        if len(warm) < 2:
            return 0
        return max(s.rss for s in warm) - warm[0].rss

    @property
    def peak_connections(self) -> int:
        return max((s.connections for s in self.samples), default=0)


async def sustain(
    ingress_url: str,
    run: str,
    concurrency: int,
    duration: float,
    keys: int = 100,
    probe: Callable[[], tuple[int, int]] | None = None,
) -> LoadResult:
    """``concurrency`` clients each sending increments back to back for ``duration`` seconds.

    ``probe`` returns (RSS bytes, DB connections) of the server; it runs once a
    second in a thread so a slow /proc or database read never stalls the load.
    """
    result = LoadResult(concurrency=concurrency, duration=duration)
    names = [f"{run}-k{k}" for k in range(keys)]
    stop_at = time.monotonic() + duration
    sampler_done = threading.Event()

    def sample() -> None:
        begin = time.monotonic()
        while not sampler_done.is_set():
            if probe is not None:
                rss, connections = probe()
                result.samples.append(Sample(time.monotonic() - begin, rss, connections))
            sampler_done.wait(1.0)

    sampler = threading.Thread(target=sample, name="reliability-sampler", daemon=True)
    sampler.start()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    rng = random.Random(run)
    try:
        async with httpx.AsyncClient(base_url=ingress_url, timeout=60, limits=limits) as client:

            async def worker() -> None:
                while time.monotonic() < stop_at:
                    key = rng.choice(names)
                    started = time.perf_counter()
                    try:
                        response = await client.post(f"/{COUNTER}/{key}/add", json=1)
                    except httpx.HTTPError as exc:
                        result.errors.append(f"{type(exc).__name__}: {exc}")
                        continue
                    if response.status_code != 200:
                        result.errors.append(f"{response.status_code}: {response.text[:200]}")
                        continue
                    result.latencies.append(time.perf_counter() - started)
                    result.per_key[key] = result.per_key.get(key, 0) + 1

            began = time.monotonic()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            result.duration = time.monotonic() - began
    finally:
        sampler_done.set()
        sampler.join(5)
    return result


def describe(result: LoadResult) -> dict[str, Any]:
    return {
        "concurrency": result.concurrency,
        "seconds": round(result.duration, 1),
        "acknowledged": result.ok,
        "errors": len(result.errors),
        "throughput_per_s": round(result.throughput, 1),
        "p50_ms": round(result.percentile(50) * 1000, 1),
        "p99_ms": round(result.percentile(99) * 1000, 1),
        "rss_start_mb": round(result.samples[0].rss / 2**20, 1) if result.samples else None,
        "rss_growth_mb": round(result.rss_growth() / 2**20, 1),
        "peak_db_connections": result.peak_connections,
    }
