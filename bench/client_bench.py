"""Client overhead and ORM-in-handler throughput, side by side in one run.

    .venv/bin/python -m bench.client_bench            # needs PostgreSQL (DATABASE_URL or 127.0.0.1:5432)

1. The client (``client.object(RuntimeNotebook, key).header(...)``: handler lookup, input
   validation, typed output decoding) against a bare ``httpx`` POST of the same bytes to the
   same ingress URL: sync calls, sync sends, async calls with 16 in flight. Rounds alternate
   between the two so drift hits both alike; the ratio is client / bare throughput.
2. A handler doing one async ORM read and one sync ORM write (in a ``ctx.run`` step) per
   invocation, 5,000 times with 32 in flight: throughput, and PostgreSQL connections to the
   database before, at the peak and after (``pg_stat_activity``).

restate-server and the Django ASGI app (uvicorn, a separate process so the load generator
does not share its GIL) run on this machine, as in the test suite.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
sys.path.insert(0, str(ROOT))

import django  # noqa: E402

django.setup()

import httpx  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import override_settings  # noqa: E402

from bench.results import table, write_section  # noqa: E402
from django_restate.admin_api import AdminAPI  # noqa: E402
from django_restate.client import RestateClient  # noqa: E402
from django_restate.registration import register  # noqa: E402
from django_restate.testing.server import RestateServer, free_port, wait_for_http  # noqa: E402
from tests.runtime_app.restate_services import RuntimeNotebook  # noqa: E402

BENCH_DB = "django_restate_bench"
ROUNDS = 20
PER_ROUND = 60
CONCURRENCY = 16
BATCH = 32
ORM_INVOCATIONS = 5000
ORM_CONCURRENCY = 32
ORM_KEYS = 64


def serve_django(port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url(BENCH_DB),
        "PYTHONPATH": str(ROOT),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "demo_project.asgi:application", "--port", str(port), "--log-level", "error"],
        env=env,
        cwd=ROOT,
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/restate/health", process=process)
    except (RuntimeError, TimeoutError):
        process.terminate()
        raise
    return process


def database_url(name: str) -> str:
    base = os.environ["DATABASE_URL"]
    return base.rsplit("/", 1)[0] + "/" + name


def pg_connections() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        return int(cursor.fetchone()[0])


# -- 1. client overhead ------------------------------------------------------------------------


def timed(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def summarise(pairs: list[tuple[float, float]], requests_per_pair: int) -> tuple[float, float, float]:
    """Requests per second of each side, and the median ratio over groups of pairs."""
    bare_time = sum(b for b, _ in pairs)
    ours_time = sum(o for _, o in pairs)
    size = max(1, len(pairs) // ROUNDS)
    groups = [pairs[i : i + size] for i in range(0, len(pairs), size)]
    ratios = [sum(b for b, _ in g) / sum(o for _, o in g) for g in groups]
    total = len(pairs) * requests_per_pair
    return total / bare_time, total / ours_time, statistics.median(ratios)


def compare(bare: Callable[[], None], ours: Callable[[], None], pairs: int) -> tuple[float, float, float]:
    """Alternate single requests (bare, ours, ours, bare, ...): each pair meets nearly the same
    machine, so a noisy neighbour slows both sides alike instead of skewing the ratio."""
    for _ in range(20):  # warm up connections and caches
        bare(), ours()
    timings = []
    for n in range(pairs):
        if n % 2:
            b = timed(bare)
            o = timed(ours)
        else:
            o = timed(ours)
            b = timed(bare)
        timings.append((b, o))
    return summarise(timings, 1)


def overhead_rows(ingress: str) -> list[list[object]]:
    key = f"bench-{uuid.uuid4().hex[:8]}"
    url = f"{ingress}/RuntimeNotebook/{key}/header"
    body, headers = b'"content-type"', {"content-type": "application/json"}
    client = RestateClient()
    http = httpx.Client()
    pairs = ROUNDS * PER_ROUND
    rows: list[tuple[str, float, float, float]] = []

    def bare_call() -> None:
        response = http.post(url, content=body, headers=headers)
        response.raise_for_status()
        response.json()

    def client_call() -> None:
        client.object(RuntimeNotebook, key).header("content-type")

    other = httpx.Client()

    def bare_call_again() -> None:  # the control: bare against bare shows the harness's own noise
        response = other.post(url, content=body, headers=headers)
        response.raise_for_status()
        response.json()

    def bare_call_busier() -> None:  # calibration: what 20 µs more CPU per request costs on this machine now
        end = time.perf_counter() + 20e-6
        while time.perf_counter() < end:
            pass
        bare_call_again()

    rows.append(("control: bare vs bare (sync call)", *compare(bare_call, bare_call_again, pairs // 2)))
    rows.append(("control: bare vs bare + 20 µs CPU", *compare(bare_call, bare_call_busier, pairs // 2)))
    rows.append(("call (sync, sequential)", *compare(bare_call, client_call, pairs)))

    def bare_send() -> None:
        response = http.post(url + "/send", content=body, headers=headers)
        response.raise_for_status()
        response.json()

    def client_send() -> None:
        client.object(RuntimeNotebook, key).header.send("content-type")

    rows.append(("send (sync, sequential)", *compare(bare_send, client_send, pairs)))

    async def compare_async() -> tuple[float, float, float]:
        """Alternate batches of BATCH requests, CONCURRENCY in flight, on one event loop."""
        gate = asyncio.Semaphore(CONCURRENCY)
        async with httpx.AsyncClient() as ahttp:

            async def bare_one() -> None:
                async with gate:
                    response = await ahttp.post(url, content=body, headers=headers)
                    response.raise_for_status()
                    response.json()

            async def client_one() -> None:
                async with gate:
                    await client.object(RuntimeNotebook, key).header.acall("content-type")

            async def batch(one: Callable[[], Any]) -> float:
                start = time.perf_counter()
                await asyncio.gather(*(one() for _ in range(BATCH)))
                return time.perf_counter() - start

            await batch(bare_one), await batch(client_one)  # warm up
            timings = []
            for n in range(pairs // BATCH):
                if n % 2:
                    b = await batch(bare_one)
                    o = await batch(client_one)
                else:
                    o = await batch(client_one)
                    b = await batch(bare_one)
                timings.append((b, o))
            await client.aclose()
            return summarise(timings, BATCH)

    rows.append((f"call (async, {CONCURRENCY} in flight)", *asyncio.run(compare_async())))
    http.close()
    other.close()
    client.close()
    return [
        [name, f"{bare:.0f}", f"{ours:.0f}", f"{ours / bare:.3f}", f"{median:.3f}"] for name, bare, ours, median in rows
    ]


def cpu_rows() -> list[list[object]]:
    """The client's own cost per call, without a network: both sides answered in-process by one
    httpx.MockTransport, so what differs is only what the client adds (lookup, validation, decoding)."""

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b'"application/json"', headers={"content-type": "application/json"})

    transport = httpx.MockTransport(answer)
    http = httpx.Client(transport=transport)
    client = RestateClient("http://ingress.invalid", transport=transport)
    url, body, headers = (
        "http://ingress.invalid/RuntimeNotebook/k/header",
        b'"content-type"',
        {"content-type": "application/json"},
    )
    n = 2000

    def bare() -> None:
        for _ in range(n):
            http.post(url, content=body, headers=headers).json()

    def ours() -> None:
        for _ in range(n):
            client.object(RuntimeNotebook, "k").header("content-type")

    bare(), ours()
    rounds = [(timed(bare), timed(ours)) for _ in range(9)]  # interleaved; the best round of each
    bare_us = min(b for b, _ in rounds) / n * 1e6
    ours_us = min(o for _, o in rounds) / n * 1e6
    return [["call, in-process transport", f"{bare_us:.0f}", f"{ours_us:.0f}", f"{ours_us - bare_us:.0f}"]]


# -- 2. ORM in handlers ------------------------------------------------------------------------


def orm_row() -> list[object]:
    client = RestateClient()
    prefix = f"bench-orm-{uuid.uuid4().hex[:8]}"
    keys = [f"{prefix}-{n}" for n in range(ORM_KEYS)]
    peak = 0

    async def batch(start: int, size: int) -> None:
        gate = asyncio.Semaphore(ORM_CONCURRENCY)

        async def one(n: int) -> None:
            async with gate:
                await client.object(RuntimeNotebook, keys[n % ORM_KEYS]).touch.acall()

        try:
            await asyncio.gather(*(one(n) for n in range(start, start + size)))
        finally:
            await client.aclose()

    asyncio.run(batch(0, 200))  # warm-up: threads started, connections opened once
    before = pg_connections()
    done = threading.Event()

    def sample() -> None:  # in its own thread, on its own connection (closed at the end)
        nonlocal peak
        try:
            while not done.wait(0.05):
                peak = max(peak, pg_connections())
        finally:
            connection.close()

    sampler = threading.Thread(target=sample)
    sampler.start()
    start = time.perf_counter()
    try:
        for offset in range(0, ORM_INVOCATIONS, 1000):
            asyncio.run(batch(offset, 1000))
    finally:
        elapsed = time.perf_counter() - start
        done.set()
        sampler.join()
    after = pg_connections()
    deadline = time.monotonic() + 5
    while after > before and time.monotonic() < deadline:  # the sampler's connection may still be closing
        time.sleep(0.1)
        after = pg_connections()
    return [
        ORM_INVOCATIONS,
        f"{ORM_INVOCATIONS / elapsed:.0f}",
        before,
        peak,
        after,
    ]


def main() -> None:
    if connection.vendor != "postgresql":
        sys.exit("This benchmark counts PostgreSQL connections: set DATABASE_URL to a postgres:// URL.")
    connection.settings_dict["TEST"]["NAME"] = BENCH_DB
    load_before = os.getloadavg()[0]
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    port = free_port()
    django_server = None
    try:
        with RestateServer() as server:
            django_server = serve_django(port)
            with AdminAPI(server.admin_url) as admin:
                register(admin, f"http://127.0.0.1:{port}/restate")
            with override_settings(RESTATE={"INGRESS_URL": server.ingress_url, "ADMIN_URL": server.admin_url}):
                overhead = overhead_rows(server.ingress_url)
                cpu = cpu_rows()
                orm = orm_row()
    finally:
        if django_server is not None:
            django_server.terminate()
            django_server.wait(20)
        connection.creation.destroy_test_db(old_name, verbosity=0)

    markdown = "\n\n".join(
        [
            "## Client overhead and ORM in handlers (`python -m bench.client_bench`)",
            "Client vs a bare `httpx` POST of the same body to the same ingress URL, against "
            "`RuntimeNotebook.header` (no step, no database), requests per second. Single requests (async: "
            f"batches of {BATCH}) alternate between the two, {ROUNDS * PER_ROUND} per side (async: "
            f"{ROUNDS * PER_ROUND // BATCH} batches); ratio = client / "
            "bare throughput (target >= 0.95), and its median over groups of consecutive pairs.",
            table(["mode", "bare httpx req/s", "client req/s", "ratio", "median round ratio"], overhead),
            "What the client itself costs per call, with both sides answered in-process (no network; best of "
            "9 interleaved rounds of 2,000):",
            table(["mode", "bare httpx µs/call", "client µs/call", "client adds µs"], cpu),
            f"`RuntimeNotebook.touch`: one async ORM read in the handler, one sync ORM write in a "
            f"`ctx.run` step, {ORM_CONCURRENCY} in flight over {ORM_KEYS} object keys, on PostgreSQL. "
            "Connections = `pg_stat_activity` rows for the database (this benchmark holds one, and a second "
            "one while it samples), measured after a 200-invocation warm-up, at the peak (sampled every "
            "50 ms during the run) and at the end.",
            table(["invocations", "invocations/s", "connections before", "peak", "after"], [orm]),
            "restate-server, uvicorn (one worker, HTTP/1.1) and the load generator share the machine "
            f"({os.cpu_count()} CPUs, load average {load_before:.1f} before and {os.getloadavg()[0]:.1f} after "
            "the run; other work shared the CPUs).",
        ]
    )
    write_section("client_bench", markdown)
    print(markdown)


if __name__ == "__main__":
    main()
