"""Endpoint throughput with tracing on vs off (issue 14), in one run.

The endpoint benchmark's echo handler, served by ``get_asgi_application()`` under uvicorn (one
process per variant, bench/tracing_asgi.py), behind one real restate-server, driven through the
ingress by a closed-loop load generator on loopback. Variants: tracing off (OpenTelemetry
installed, no tracer provider), tracing on (a provider whose spans are batched and dropped),
OpenTelemetry not importable (as without the ``otel`` extra), and tracing off again as the noise
control. Rounds rotate the order so drift on a shared 2-core machine hits every variant alike.

    .venv/bin/python -m bench.tracing_bench [--seconds 6] [--rounds 3] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from bench.results import table, write_section
from bench.rounds import measure, serve, stopping
from django_restate.testing.server import RestateServer

#: name -> (BENCH_TRACING, the service that variant serves)
VARIANTS = {
    "tracing off (no tracer provider)": ("off", "EchoTracingOff"),
    "tracing on (provider set, spans dropped)": ("on", "EchoTracingOn"),
    "opentelemetry not importable": ("absent", "EchoWithoutOpenTelemetry"),
    "control: tracing off again": ("off", "EchoTracingOffControl"),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.tracing_settings")
    import django

    django.setup()
    from django_restate.admin_api import AdminAPI
    from django_restate.deployments import register

    spans_file = os.path.join(tempfile.mkdtemp(prefix="tracing-bench-"), "spans")
    load_before = os.getloadavg()
    with RestateServer() as restate, stopping([]) as processes:
        for mode, service in VARIANTS.values():
            env = {
                "DJANGO_SETTINGS_MODULE": "bench.tracing_settings",
                "BENCH_TRACING": mode,
                "BENCH_SERVICE": service,
                "BENCH_SPANS_FILE": spans_file,
            }
            process, port = serve("bench.tracing_asgi:application", env, "/restate/health")
            processes.append(process)
            with AdminAPI(restate.admin_url, timeout=30) as admin:
                register(admin, f"http://127.0.0.1:{port}/restate")
        targets = {name: f"{restate.ingress_url}/{service}/echo" for name, (_, service) in VARIANTS.items()}
        results = measure(targets, args.rounds, args.concurrency, args.seconds)
        load_after = os.getloadavg()

    off, on, absent, control = (results[name] for name in VARIANTS)
    spans = int(Path(spans_file).read_text()) if os.path.exists(spans_file) else 0
    rows = [
        [name, f"{run.throughput:.0f}", f"{run.percentile(50):.2f}", f"{run.percentile(99):.2f}", run.errors]
        for name, run in ((name, results[name]) for name in VARIANTS)
    ]
    markdown = f"""## Tracing on vs off (issue 14, `python -m bench.tracing_bench`)

`{" ".join([".venv/bin/python -m bench.tracing_bench"] + sys.argv[1:])}`: the endpoint benchmark's echo
handler behind `get_asgi_application()`, uvicorn (HTTP/1.1) per variant, one real restate-server,
{args.concurrency} concurrent closed-loop clients on loopback, {args.rounds} rounds (order rotated) of
{args.seconds:.0f} s each after a warm-up round. "Tracing on" opens one span per attempt and batches it
to an exporter that drops it ({spans} spans made): the cost of tracing, not of a tracing backend.
Load average (1 min) {load_before[0]:.2f} before, {load_after[0]:.2f} after: the machine's 2 CPUs were
shared with other work.

{table(["variant", "invocations/s", "p50 ms", "p99 ms", "errors"], rows)}

- throughput ratio (tracing on / off): **{on.throughput / off.throughput:.3f}** (target >= 0.95)
- throughput ratio (opentelemetry not importable / off): **{absent.throughput / off.throughput:.3f}**
- noise control, off / off again: throughput **{control.throughput / off.throughput:.3f}**, p99
  **{control.percentile(99) / off.percentile(99):.3f}**: a ratio within this distance of 1.0 is not a
  measurable difference on this machine.
"""
    write_section("tracing", markdown)
    print(markdown)


if __name__ == "__main__":
    main()
