"""Endpoint overhead: the bare SDK app vs the same handler served by get_asgi_application().

Both run under the same ASGI server (uvicorn, one process each), behind one real
restate-server, driven through the ingress by a closed-loop load generator on
loopback. Rounds rotate the order so drift on a shared 2-core machine hits every variant alike.

    .venv/bin/python -m bench.endpoint_bench [--seconds 8] [--rounds 3] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import os
import sys

from bench.results import table, write_section
from bench.rounds import measure, serve, stopping
from django_restate.testing.server import RestateServer

VARIANTS = {
    "bare SDK `restate.app([...])`": ("bench.bare_app:app", "BareEcho"),
    "django_restate `get_asgi_application()`": ("bench.asgi:application", "DjangoEcho"),
    # A second bare app, measured like the others: how far apart two identical servers land.
    "control: bare SDK again": ("bench.bare_app:control", "BareEchoControl"),
}


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

    with RestateServer() as restate, stopping([]) as processes:
        for app_path, _ in VARIANTS.values():
            prefix = "/restate" if "bench.asgi" in app_path else ""
            process, port = serve(app_path, {"DJANGO_SETTINGS_MODULE": "bench.settings"}, prefix + "/health")
            processes.append(process)
            with AdminAPI(restate.admin_url, timeout=30) as admin:
                register(admin, f"http://127.0.0.1:{port}{prefix}")
        targets = {name: f"{restate.ingress_url}/{service}/echo" for name, (_, service) in VARIANTS.items()}
        results = measure(targets, args.rounds, args.concurrency, args.seconds)

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
