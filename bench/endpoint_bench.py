"""Endpoint overhead: the bare SDK app vs the same handler served by get_asgi_application().

Both run under the same ASGI server (uvicorn, one process each), behind one real
restate-server, driven through the ingress by a closed-loop load generator on
loopback. Rounds rotate the order so drift on a shared 2-core machine hits every variant alike.

    .venv/bin/python -m bench.endpoint_bench [--seconds 8] [--rounds 3] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
from pathlib import Path

import httpx

from bench.loadgen import Run, closed_loop
from bench.results import table, write_section
from django_restate.testing.server import RestateServer, free_port, wait_for_http

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = {
    "bare SDK `restate.app([...])`": ("bench.bare_app:app", "BareEcho"),
    "django_restate `get_asgi_application()`": ("bench.asgi:application", "DjangoEcho"),
    # A second bare app, measured like the others: how far apart two identical servers land.
    "control: bare SDK again": ("bench.bare_app:control", "BareEchoControl"),
}


def serve(app_path: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bench.settings", "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", app_path, "--port", str(port), "--log-level", "warning", "--lifespan", "off"],
        cwd=ROOT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}" + ("/restate" if "bench.asgi" in app_path else "")
    wait_for_http(url + "/health", process=process)
    return process, url


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()
    from django_restate.admin_api import AdminAPI
    from django_restate.deployments import register

    processes = []
    with RestateServer() as restate:
        try:
            for app_path, _ in VARIANTS.values():
                process, url = serve(app_path)
                processes.append(process)
                with AdminAPI(restate.admin_url, timeout=30) as admin:
                    register(admin, url)
            results: dict[str, Run] = {}
            for round_number in range(args.rounds + 1):
                # Rotate the order each round: Restate slows a little as its journal grows, and
                # whoever always ran last would pay for it.
                names = list(VARIANTS)
                shift = round_number % len(names)
                for name in names[shift:] + names[:shift]:
                    service = VARIANTS[name][1]
                    target = f"{restate.ingress_url}/{service}/echo"

                    def request(client: httpx.AsyncClient, target: str = target) -> object:
                        return client.post(target, json="bench")

                    run = asyncio.run(closed_loop(request, args.concurrency, args.seconds))  # type: ignore[arg-type]
                    if round_number == 0:
                        continue  # warm-up round: JIT-free Python still warms caches and connections
                    results[name] = results[name].merge(run) if name in results else run
                    print(f"round {round_number} {name}: {run.throughput:.0f}/s p99 {run.percentile(99):.1f} ms")
        finally:
            for process in processes:
                # The bare SDK swallows SIGTERM under uvicorn (see DESIGN.md), so kill what stays up.
                process.terminate()
                try:
                    process.wait(5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()

    bare, ours, control = (results[name] for name in VARIANTS)
    rows = [
        [n, f"{r.throughput:.0f}", f"{r.percentile(50):.2f}", f"{r.percentile(99):.2f}", r.errors]
        for n, r in ((name, results[name]) for name in VARIANTS)
    ]
    throughput_ratio = ours.throughput / bare.throughput
    p99_ratio = ours.percentile(99) / bare.percentile(99)
    control_throughput = control.throughput / bare.throughput
    control_p99 = control.percentile(99) / bare.percentile(99)
    markdown = f"""## Endpoint overhead (issue 2): bare SDK vs django_restate

`{" ".join([".venv/bin/python -m bench.endpoint_bench"] + sys.argv[1:])}` — uvicorn (HTTP/1.1) per variant, one real
restate-server, {args.concurrency} concurrent closed-loop clients on loopback, {args.rounds} rounds
(order rotated each round) of {args.seconds:.0f} s each after a warm-up round. Same handler body in all.

{table(["variant", "invocations/s", "p50 ms", "p99 ms", "errors"], rows)}

- throughput ratio (django_restate / bare): **{throughput_ratio:.3f}** (target >= 0.97)
- p99 ratio (django_restate / bare): **{p99_ratio:.3f}** (target <= 1.05)
- noise control, bare / bare: throughput **{control_throughput:.3f}**, p99 **{control_p99:.3f}**: a ratio
  within this distance of 1.0 is not a measurable difference on this machine.
"""
    write_section("endpoint", markdown)
    print(markdown)


if __name__ == "__main__":
    main()
