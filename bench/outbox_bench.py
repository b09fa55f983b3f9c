"""The transactional outbox's cost and its relay's speed, on PostgreSQL, in one run.

    .venv/bin/python -m bench.outbox_bench            # needs PostgreSQL (DATABASE_URL or 127.0.0.1:5432)

1. ``send_on_commit`` through the outbox against a plain ``send()`` after the same transaction:
   each operation is one transaction that inserts a row of the project's own (a ``Ticket``) and
   starts ``ReliabilityEcho.length`` (no database work in the handler). The plain side sends
   after the ``atomic()`` block, with an idempotency key as the outbox does. Each round runs one
   operation per side in rotating order: the plain send twice (the second is the in-run noise
   control) and the outbox. Ratio = outbox / plain throughput (target >= 0.85); the fast path's
   extra latency is the difference of the per-operation p50 and p99.
2. Relay catch-up: 10,000 rows written by commits while restate-server was stopped; restate-server
   is started again and one relay (``Relay``, as ``manage.py restate_relay`` runs it) delivers them.
   Reported: seconds from Restate answering to the last row marked delivered (target <= 60 s), rate.

restate-server, the Django ASGI app (the reliability harness's server, a subprocess: it runs the handlers; its own relay
is off) and this process share the machine, as in the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
sys.path.insert(0, str(ROOT))

import django  # noqa: E402
import httpx  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.test import override_settings  # noqa: E402

from bench.results import table, write_section  # noqa: E402
from django_restate.admin_api import AdminAPI  # noqa: E402
from django_restate.client import client  # noqa: E402
from django_restate.deployments import register  # noqa: E402
from django_restate.models import OutboxMessage  # noqa: E402
from django_restate.outbox.relay import Relay  # noqa: E402
from django_restate.testing.server import RestateServer  # noqa: E402
from tests.reliability.harness import SERVER, DjangoProcess  # noqa: E402
from tests.reliability_app.restate_services import Echo  # noqa: E402
from tests.runtime_app.models import Ticket  # noqa: E402

BENCH_DB = "django_restate_bench_outbox"
ROUNDS = 1500
WARMUP = 50
BACKLOG = 10_000
BACKLOG_PER_TRANSACTION = 100
CONTROL_SENDS = 1000
SIDES = ("plain", "plain again", "outbox")


def plain_send() -> None:
    with transaction.atomic():
        Ticket.objects.create(subject="bench")
    client.service(Echo).length.send("bench", idempotency_key=uuid.uuid4().hex)


def outbox_send() -> None:
    with transaction.atomic():
        Ticket.objects.create(subject="bench")
        pending = client.service(Echo).length.send_on_commit("bench")
    if pending.handle is None:
        raise RuntimeError(f"the fast path did not send: {pending.error}")


def timed(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def overhead() -> tuple[list[list[object]], float]:
    sides = {"plain": plain_send, "plain again": plain_send, "outbox": outbox_send}
    for _ in range(WARMUP):
        for side in SIDES:
            sides[side]()
    seconds: dict[str, list[float]] = {side: [] for side in SIDES}
    for n in range(ROUNDS):
        for side in SIDES[n % 3 :] + SIDES[: n % 3]:
            seconds[side].append(timed(sides[side]))
    rate = {side: len(times) / sum(times) for side, times in seconds.items()}
    pooled = (rate["plain"] + rate["plain again"]) / 2
    plain_times = seconds["plain"] + seconds["plain again"]
    rows: list[list[object]] = []
    for side in SIDES:
        times = seconds[side]
        rows.append(
            [
                side,
                f"{rate[side]:.0f}",
                f"{rate[side] / pooled:.2f}",
                f"{statistics.median(times) * 1000:.2f}",
                f"{percentile(times, 0.99) * 1000:.2f}",
            ]
        )
    extra_p50 = (statistics.median(seconds["outbox"]) - statistics.median(plain_times)) * 1000
    extra_p99 = (percentile(seconds["outbox"], 0.99) - percentile(plain_times, 0.99)) * 1000
    rows.append(["outbox - plain", "", "", f"{extra_p50:+.2f}", f"{extra_p99:+.2f}"])
    return rows, rate["outbox"] / pooled


def catch_up(server: RestateServer) -> list[object]:
    OutboxMessage.objects.all().delete()
    server.stop()
    start = time.perf_counter()
    for _ in range(BACKLOG // BACKLOG_PER_TRANSACTION):
        with transaction.atomic():
            for _ in range(BACKLOG_PER_TRANSACTION):
                Ticket.objects.create(subject="while down")
                client.service(Echo).length.send_on_commit("bench")
    written = time.perf_counter() - start
    assert OutboxMessage.objects.filter(status="pending").count() == BACKLOG
    # Rows a commit could not send keep its claim for COMMIT_GRACE; a backlog left by an outage
    # is older than that. Wait it out rather than rewrite the rows.
    time.sleep(11)
    server.start()
    relay = Relay()
    try:
        start = time.perf_counter()
        done = asyncio.run(relay.drain(timeout=1200))
        elapsed = time.perf_counter() - start
    finally:
        relay.close()
    left = OutboxMessage.objects.exclude(status="delivered").count()
    if left or done.delivered != BACKLOG:
        raise RuntimeError(f"catch-up incomplete: {done}, {left} rows not delivered")
    ceiling = asyncio.run(raw_sends(server.ingress_url, CONTROL_SENDS))
    return [BACKLOG, f"{written:.1f}", f"{elapsed:.1f}", f"{BACKLOG / elapsed:.0f}", f"{ceiling:.0f}"]


async def raw_sends(ingress: str, count: int) -> float:
    """Sends per second Restate accepts right now from bare httpx, 32 in flight, each with its own
    idempotency key: the ceiling any relay works under on this machine at this moment."""
    gate = asyncio.Semaphore(32)
    async with httpx.AsyncClient(base_url=ingress, timeout=60) as http:

        async def one() -> None:
            async with gate:
                headers = {"content-type": "application/json", "idempotency-key": uuid.uuid4().hex}
                response = await http.post("/ReliabilityEcho/length/send", content=b'"bench"', headers=headers)
                response.raise_for_status()

        start = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(count)))
        return count / (time.perf_counter() - start)


def main() -> None:
    global ROUNDS, BACKLOG
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--backlog", type=int, default=BACKLOG)
    parser.add_argument("--no-write", action="store_true", help="print, do not write bench/RESULTS.md")
    args = parser.parse_args()
    ROUNDS, BACKLOG = args.rounds, args.backlog
    if connection.vendor != "postgresql":
        sys.exit("This benchmark is about PostgreSQL: set DATABASE_URL to a postgres:// URL.")
    connection.settings_dict["TEST"]["NAME"] = BENCH_DB
    load_before = os.getloadavg()[0]
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    log = Path(tempfile.mkdtemp(prefix="outbox-bench-")) / "django.log"
    try:
        with RestateServer() as server, DjangoProcess(connection.settings_dict["NAME"], log) as django_server:
            with AdminAPI(server.admin_url) as admin:
                register(admin, django_server.deployment_url)
            settings = {"INGRESS_URL": server.ingress_url, "ADMIN_URL": server.admin_url, "OUTBOX_RELAY": False}
            with override_settings(RESTATE=settings):
                rows, ratio = overhead()
                backlog = catch_up(server)
    finally:
        connection.close()
        connection.creation.destroy_test_db(old_name, verbosity=0)
    markdown = "\n\n".join(
        [
            "## Transactional outbox (`python -m bench.outbox_bench`)",
            "One operation = one transaction inserting a `Ticket` and starting `ReliabilityEcho.length` "
            "(no database work in the handler), on PostgreSQL: `send_on_commit` through the outbox (a row "
            "inserted in the transaction, sent right after the commit, marked delivered) against a plain "
            "`send()` with an idempotency key after the same `atomic()` block. "
            f"{ROUNDS} rounds, one operation per side each, in rotating order; the plain side twice (the "
            "second is the in-run noise control). Ratio = throughput / plain (both plain sides pooled; "
            f"target >= 0.85). This run: **{ratio:.2f}**.",
            table(["side", "operations/s", "ratio", "p50 ms", "p99 ms"], rows),
            f"Relay catch-up: {BACKLOG:,} rows written by commits while restate-server was stopped "
            f"({BACKLOG_PER_TRANSACTION} per transaction); restate-server started again; one `Relay` "
            "(batches of 200, 32 sends in flight) from the moment Restate answered to the last row marked "
            "delivered (target <= 60 s). Control: right after, the rate at which Restate accepts "
            f"{CONTROL_SENDS:,} bare `httpx` sends with idempotency keys, 32 in flight: the ceiling of any "
            "relay on this machine at that moment.",
            table(
                ["rows", "written in s (Restate down)", "delivered in s", "rows/s", "control: bare sends/s"], [backlog]
            ),
            f"restate-server, {SERVER} (one worker; it runs the handlers) and this process share "
            f"the machine ({os.cpu_count()} CPUs, load average {load_before:.1f} before and "
            f"{os.getloadavg()[0]:.1f} after the run; other work shared the CPUs).",
        ]
    )
    if not args.no_write:
        write_section("outbox_bench", markdown)
    print(markdown)


if __name__ == "__main__":
    main()
