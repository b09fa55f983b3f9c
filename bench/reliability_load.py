"""Sustained load through a real restate-server into Django: where this machine saturates, and
whether 60 s at that concurrency holds with no errors and no growth in memory or connections.

    .venv/bin/python -m bench.reliability_load                 # SQLite
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python -m bench.reliability_load

Each request is ``POST /ReliabilityCounter/{key}/add`` over 100 keys: an exclusive Virtual
Object handler that updates Restate state and writes one audit row through ``ctx.run``. The
Django side is the reliability harness's server in a subprocess (granian, as the docs recommend),
on a throwaway test database that is created and dropped like pytest-django's. The ramp levels
run side by side in one run; the ratio column is throughput relative to the lowest level.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import uuid
from pathlib import Path
from typing import Any


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", default="4,16,32,64", help="Concurrency levels of the ramp (comma-separated).")
    parser.add_argument("--step-seconds", type=float, default=10.0, help="Duration of each ramp level.")
    parser.add_argument("--seconds", type=float, default=60.0, help="Duration of the sustained run.")
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
    from tests.reliability.harness import SERVER, DjangoProcess, LoadResult, db_connection_counter, describe, sustain

    load_before = os.getloadavg()[0]  # other work on the machine skews every figure below
    old_name = connection.settings_dict["NAME"]
    test_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    connection.close()
    levels = [int(level) for level in args.levels.split(",")]
    try:
        with (
            RestateServer() as restate,
            DjangoProcess(test_name, Path(tempfile.mkdtemp()) / "django.log") as django_server,
        ):
            with AdminAPI(restate.admin_url) as admin:
                register(admin, django_server.deployment_url)
            count_connections, close = db_connection_counter(connection.settings_dict, django_server)

            def probe() -> tuple[int, int]:
                return django_server.rss_bytes(), count_connections()

            def load(concurrency: int, seconds: float) -> LoadResult:
                run = f"bench-{uuid.uuid4().hex[:8]}"
                return asyncio.run(sustain(restate.ingress_url, run, concurrency, seconds, probe=probe))

            try:
                load(8, 3.0)  # warm up: imports, connections, Restate's partition leaders
                ramp = [load(level, args.step_seconds) for level in levels]
                best = max(ramp, key=lambda r: r.throughput)
                # The saturating concurrency: the lowest level within 5% of the best throughput.
                saturating = min(r.concurrency for r in ramp if r.throughput >= 0.95 * best.throughput)
                held = load(saturating, args.seconds)
            finally:
                close()
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)

    vendor = connection.vendor
    base = ramp[0].throughput or 1.0
    ramp_table = table(
        ["concurrency", "requests/s", "ratio", "p50 ms", "p99 ms", "errors"],
        [
            [
                r.concurrency,
                f"{r.throughput:.0f}",
                f"{r.throughput / base:.2f}x",
                f"{r.percentile(50) * 1000:.0f}",
                f"{r.percentile(99) * 1000:.0f}",
                len(r.errors),
            ]
            for r in ramp
        ],
    )
    figures: dict[str, Any] = describe(held)
    held_table = table(
        [
            "database",
            "concurrency",
            "seconds",
            "acknowledged",
            "errors",
            "requests/s",
            "p50 ms",
            "p99 ms",
            "RSS start MB",
            "RSS growth MB",
            "peak DB connections",
        ],
        [
            [
                vendor,
                figures["concurrency"],
                figures["seconds"],
                figures["acknowledged"],
                figures["errors"],
                figures["throughput_per_s"],
                figures["p50_ms"],
                figures["p99_ms"],
                figures["rss_start_mb"],
                figures["rss_growth_mb"],
                figures["peak_db_connections"],
            ]
        ],
    )
    connections_note = (
        "sessions in pg_stat_activity" if vendor == "postgresql" else "open file descriptors on the SQLite file"
    )
    prefix = "DATABASE_URL=postgres://... " if vendor == "postgresql" else ""
    markdown = (
        f"### Reliability load ({vendor})\n\n"
        f"Ramp, {args.step_seconds:.0f} s per level, `POST /ReliabilityCounter/{{key}}/add` over 100 keys "
        f"(ratio: throughput relative to concurrency {levels[0]}):\n\n{ramp_table}\n\n"
        f"Sustained at the saturating concurrency ({saturating}: the lowest level within 5% of the best) "
        f"for {args.seconds:.0f} s; DB connections are {connections_note}:\n\n{held_table}\n\n"
        f"{os.cpu_count()} CPUs, 1-minute load average {load_before:.1f} before the run (restate-server, {SERVER} "
        "and the load generator share the machine). "
        f"Reproduce: `{prefix}.venv/bin/python -m bench.reliability_load`"
    )
    print(markdown)
    if args.write:
        write_section(f"reliability_load_{vendor}", markdown)


if __name__ == "__main__":
    main()
