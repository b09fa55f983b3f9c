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
import asyncio
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

from bench.loadgen import Run, closed_loop
from bench.results import table, write_section
from django_restate.testing.server import RestateServer, free_port, wait_for_http

ROOT = Path(__file__).resolve().parent.parent
#: name -> (BENCH_TRACING, the service that variant serves)
VARIANTS = {
    "tracing off (no tracer provider)": ("off", "EchoTracingOff"),
    "tracing on (provider set, spans dropped)": ("on", "EchoTracingOn"),
    "opentelemetry not importable": ("absent", "EchoWithoutOpenTelemetry"),
    "control: tracing off again": ("off", "EchoTracingOffControl"),
}


def serve(mode: str, service: str, spans_file: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.tracing_settings",
        "PYTHONPATH": str(ROOT),
        "BENCH_TRACING": mode,
        "BENCH_SERVICE": service,
        "BENCH_SPANS_FILE": spans_file,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bench.tracing_asgi:application", "--port", str(port)]
        + ["--log-level", "warning", "--lifespan", "off"],
        cwd=ROOT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}/restate"
    wait_for_http(url + "/health", process=process)
    return process, url


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
    processes = []
    with RestateServer() as restate:
        try:
            for mode, service in VARIANTS.values():
                process, url = serve(mode, service, spans_file)
                processes.append(process)
                with AdminAPI(restate.admin_url, timeout=30) as admin:
                    register(admin, url)
            results: dict[str, Run] = {}
            for round_number in range(args.rounds + 1):
                names = list(VARIANTS)
                shift = round_number % len(names)
                for name in names[shift:] + names[:shift]:
                    target = f"{restate.ingress_url}/{VARIANTS[name][1]}/echo"

                    def request(client: httpx.AsyncClient, target: str = target) -> object:
                        return client.post(target, json="bench")

                    run = asyncio.run(closed_loop(request, args.concurrency, args.seconds))  # type: ignore[arg-type]
                    if round_number == 0:
                        continue  # warm-up round
                    results[name] = results[name].merge(run) if name in results else run
                    print(f"round {round_number} {name}: {run.throughput:.0f}/s p99 {run.percentile(99):.1f} ms")
            load_after = os.getloadavg()
        finally:
            for process in processes:
                process.terminate()
                try:
                    process.wait(5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()

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
