"""Variants served side by side and measured in rotated rounds: what the endpoint and tracing
benchmarks share. Each variant is one uvicorn process behind the same restate-server; rounds
rotate the order so drift on a shared 2-core machine hits every variant alike."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

from bench.loadgen import Run, closed_loop
from django_restate.testing.server import free_port, wait_for_http

ROOT = Path(__file__).resolve().parent.parent


def serve(app_path: str, env: Mapping[str, str], health_path: str = "/health") -> tuple[subprocess.Popen[bytes], int]:
    """``app_path`` under uvicorn on a free port (``env`` on top of this process's), once it answers."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", app_path, "--port", str(port), "--log-level", "warning", "--lifespan", "off"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
    )
    wait_for_http(f"http://127.0.0.1:{port}{health_path}", process=process)
    return process, port


@contextmanager
def stopping(processes: list[subprocess.Popen[bytes]]) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Stop every process put in ``processes`` on the way out."""
    try:
        yield processes
    finally:
        for process in processes:
            # The bare SDK swallows SIGTERM under uvicorn (see DESIGN.md), so kill what stays up.
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def measure(targets: Mapping[str, str], rounds: int, concurrency: int, seconds: float) -> dict[str, Run]:
    """POST ``"bench"`` to each variant's ingress URL in a closed loop, ``rounds`` times after a
    warm-up round, the order rotated each round; each variant's rounds merged into one Run."""
    results: dict[str, Run] = {}
    names = list(targets)
    for round_number in range(rounds + 1):
        # Restate slows a little as its journal grows, and whoever always ran last would pay for it.
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:

            def request(client: httpx.AsyncClient, target: str = targets[name]) -> object:
                return client.post(target, json="bench")

            run = asyncio.run(closed_loop(request, concurrency, seconds))  # type: ignore[arg-type]
            if round_number == 0:
                continue  # warm-up round: JIT-free Python still warms caches and connections
            results[name] = results[name].merge(run) if name in results else run
            print(f"round {round_number} {name}: {run.throughput:.0f}/s p99 {run.percentile(99):.1f} ms")
    return {name: results[name] for name in names}
