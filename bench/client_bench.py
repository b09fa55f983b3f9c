"""Client overhead and ORM-in-handler throughput, side by side in one run.

    .venv/bin/python -m bench.client_bench            # needs PostgreSQL (DATABASE_URL or 127.0.0.1:5432)

1. The client (``client.object(RuntimeNotebook, key).header(...)``: handler lookup, input
   validation, typed output decoding) against a bare ``httpx`` POST of the same bytes to the
   same ingress URL: sync calls, sync sends, async calls with 16 in flight. Each round runs the
   bare POST twice (two httpx clients: the second is the in-run noise control) and the client,
   in rotating order, so drift hits all three alike; the ratio is client / bare throughput.
2. A handler doing one async ORM read and one sync ORM write (in a ``ctx.run`` step) per
   invocation, 5,000 times with 32 in flight: throughput, and PostgreSQL connections to the
   database before, at the peak and after (``pg_stat_activity``).

restate-server and the Django ASGI app (uvicorn, a separate process so the load generator
does not share its GIL) run on this machine, as in the test suite.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
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
from django_restate.deployments import register  # noqa: E402
from django_restate.testing import eventually  # noqa: E402
from django_restate.testing.server import RestateServer, free_port, wait_for_http  # noqa: E402
from tests.runtime_app.restate_services import RuntimeNotebook  # noqa: E402

BENCH_DB = "django_restate_bench"
PAIRS = 1500
ASYNC_ROUNDS = 60
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


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


#: The sides of every mode, measured in turn within each round: the bare POST twice (two clients,
#: so the second is the in-run control: what "no difference" looks like now) and the client.
SIDES = ("bare", "bare again", "client")


def rotate(n: int) -> tuple[str, ...]:
    """Round ``n``'s order: each side goes first, second and last equally often."""
    return SIDES[n % 3 :] + SIDES[: n % 3]


def ratios(seconds: dict[str, list[float]], requests_per_sample: int) -> tuple[float, float, float, float, float]:
    """Requests per second of each side, client / bare (both bare sides pooled) and bare again / bare."""
    rate = {side: requests_per_sample * len(times) / sum(times) for side, times in seconds.items()}
    pooled = (rate["bare"] + rate["bare again"]) / 2
    return rate["bare"], rate["bare again"], rate["client"], rate["client"] / pooled, rate["bare again"] / rate["bare"]


def compare(sides: Mapping[str, Callable[[], object]], rounds: int) -> tuple[float, float, float, float, float]:
    """Single requests, one per side per round in rotating order: a noisy neighbour slows all
    three sides alike instead of skewing the ratio."""
    for _ in range(20):  # warm up connections and caches
        for side in SIDES:
            sides[side]()
    seconds: dict[str, list[float]] = {side: [] for side in SIDES}
    for n in range(rounds):
        for side in rotate(n):
            seconds[side].append(timed(sides[side]))
    return ratios(seconds, 1)


def overhead_rows(ingress: str) -> list[list[object]]:
    body, headers = b'"content-type"', {"content-type": "application/json"}
    client = RestateClient()
    http, other = httpx.Client(), httpx.Client()
    rows: list[tuple[str, float, float, float, float, float]] = []

    def fresh_key() -> tuple[str, str]:
        """A new object key per mode: no mode waits behind another's queued invocations."""
        key = f"bench-{uuid.uuid4().hex[:8]}"
        return key, f"{ingress}/RuntimeNotebook/{key}/header"

    def bare(http: httpx.Client, url: str) -> Callable[[], None]:
        def post() -> None:
            response = http.post(url, content=body, headers=headers)
            response.raise_for_status()
            response.json()

        return post

    key, url = fresh_key()
    calls = {
        "bare": bare(http, url),
        "bare again": bare(other, url),
        "client": lambda: client.object(RuntimeNotebook, key).header("content-type"),
    }
    rows.append(("call (sync, sequential)", *compare(calls, PAIRS)))

    key, url = fresh_key()
    sends = {
        "bare": bare(http, url + "/send"),
        "bare again": bare(other, url + "/send"),
        "client": lambda: client.object(RuntimeNotebook, key).header.send("content-type"),
    }
    rows.append(("send (sync, sequential)", *compare(sends, PAIRS)))
    # Sends return before their handler runs: wait for the key's queue to drain (a call on the
    # same object runs after all of them) so the next mode does not share the CPU with it.
    client.object(RuntimeNotebook, key).header.call("content-type", timeout=300)

    async def compare_async() -> tuple[float, float, float, float, float]:
        """Batches of BATCH requests, CONCURRENCY in flight, one batch per side per round."""
        key, url = fresh_key()
        gate = asyncio.Semaphore(CONCURRENCY)
        async with httpx.AsyncClient() as first, httpx.AsyncClient() as second:

            def bare_one(ahttp: httpx.AsyncClient) -> Callable[[], Any]:
                async def post() -> None:
                    async with gate:
                        response = await ahttp.post(url, content=body, headers=headers)
                        response.raise_for_status()
                        response.json()

                return post

            async def client_one() -> None:
                async with gate:
                    await client.object(RuntimeNotebook, key).header.acall("content-type")

            sides = {"bare": bare_one(first), "bare again": bare_one(second), "client": client_one}

            async def batch(one: Callable[[], Any]) -> float:
                start = time.perf_counter()
                await asyncio.gather(*(one() for _ in range(BATCH)))
                return time.perf_counter() - start

            for side in SIDES:  # warm up
                await batch(sides[side])
            seconds: dict[str, list[float]] = {side: [] for side in SIDES}
            for n in range(ASYNC_ROUNDS):
                for side in rotate(n):
                    seconds[side].append(await batch(sides[side]))
            await client.aclose()
            return ratios(seconds, BATCH)

    rows.append((f"call (async, {CONCURRENCY} in flight)", *asyncio.run(compare_async())))
    http.close()
    other.close()
    client.close()
    return [
        [name, f"{bare:.0f}", f"{again:.0f}", f"{ours:.0f}", f"**{ratio:.3f}**", f"{control:.3f}"]
        for name, bare, again, ours, ratio, control in rows
    ]


def cpu_rows() -> list[list[object]]:
    """The client's own cost per call, without a network: both sides answered in-process by one
    httpx.MockTransport, so what differs is only what the client adds (lookup, validation, decoding)."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/send"):
            return httpx.Response(200, json={"invocationId": "inv_1bench", "status": "Accepted"})
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
    modes = {
        "call": (
            lambda: http.post(url, content=body, headers=headers).json(),
            lambda: client.object(RuntimeNotebook, "k").header("content-type"),
        ),
        "send": (
            lambda: http.post(url + "/send", content=body, headers=headers).json(),
            lambda: client.object(RuntimeNotebook, "k").header.send("content-type"),
        ),
    }
    rows: list[list[object]] = []
    for mode, (bare_one, client_one) in modes.items():

        def bare(one: Callable[[], object] = bare_one) -> None:
            for _ in range(n):
                one()

        def ours(one: Callable[[], object] = client_one) -> None:
            for _ in range(n):
                one()

        bare()
        ours()
        rounds = [(timed(bare), timed(ours)) for _ in range(9)]  # interleaved; the best round of each
        bare_us = min(b for b, _ in rounds) / n * 1e6
        ours_us = min(o for _, o in rounds) / n * 1e6
        rows.append([f"{mode}, in-process transport", f"{bare_us:.0f}", f"{ours_us:.0f}", f"{ours_us - bare_us:.0f}"])
    return rows


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

    def settled() -> int:  # the sampler's connection may still be closing
        after = pg_connections()
        assert after <= before
        return after

    try:
        after = eventually(settled, 5, 0.1)
    except AssertionError:
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
            "`RuntimeNotebook.header` (no step, no database; a fresh object key per mode), requests per second. "
            "Each round makes one request (async: one batch of "
            f"{BATCH}, {CONCURRENCY} in flight) per side, in rotating order: the bare POST from two separate "
            "httpx clients, then the django_restate client; "
            f"{PAIRS} rounds (async: {ASYNC_ROUNDS}). Ratio = client / bare throughput, both bare sides pooled "
            "(target >= 0.95). Control = bare again / bare: the same code twice, so its distance from 1.0 is "
            "this run's noise.",
            table(["mode", "bare req/s", "bare again req/s", "client req/s", "ratio", "control"], overhead),
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
