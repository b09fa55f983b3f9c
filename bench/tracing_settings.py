"""Settings of ``bench.tracing_bench``: the endpoint benchmark's, serving one variant's service."""

import os

from bench.settings import *  # noqa: F403
from bench.settings import INSTALLED_APPS, RESTATE

INSTALLED_APPS = [*INSTALLED_APPS, "bench.tracing_echo"]
RESTATE = {**RESTATE, "SERVICES": [os.environ.get("BENCH_SERVICE", "EchoTracingOff")]}
