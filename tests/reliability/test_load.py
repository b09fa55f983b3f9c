"""Sixty seconds of sustained load at the concurrency that saturates a 2-core machine: no
errors, every acknowledged increment applied once, and memory and database connections
of the Django server stay within stated bounds.

The concurrency comes from ``python -m bench.reliability_load``, which ramps 4 -> 64
concurrent clients: on a 2-core machine throughput stops growing between 16 and 32 and
falls at 64, so 32 is at or just past saturation. Timings are printed, never asserted;
the bounds below are about leaks, not speed.
"""

from __future__ import annotations

import asyncio
import os

import pytest

from django_restate.testing.server import RestateServer
from tests.reliability_app.models import IncrementAudit

from .harness import DjangoProcess, counter_values, describe, sustain

pytestmark = pytest.mark.e2e

SECONDS = 60.0
CONCURRENCY = 32
KEYS = 100
# Memory: peak RSS after a 10 s warm-up may exceed the RSS at the end of the warm-up by at most this.
RSS_GROWTH_BOUND = 64 * 2**20
# Connections: one per thread that touches the ORM. Those are the default executor's threads,
# which run sync ctx.run actions (asyncio's default: min(32, CPUs + 4)), plus asgiref's one
# thread for thread-sensitive sync_to_async, plus one for Django's own request handling.
CONNECTION_BOUND = min(32, (os.cpu_count() or 1) + 4) + 2


def test_sixty_seconds_at_saturation(live: DjangoProcess, restate: RestateServer, run_id: str, db_connections, capsys):
    def probe() -> tuple[int, int]:
        return live.rss_bytes(), db_connections()

    result = asyncio.run(sustain(restate.ingress_url, run_id, CONCURRENCY, SECONDS, keys=KEYS, probe=probe))
    figures = describe(result)
    with capsys.disabled():
        print(f"\n[reliability] 60 s load: {figures}")

    assert result.errors == [], result.errors[:5]
    assert result.ok > 0
    # Nothing lost or doubled under load either: per key, the object's value equals the
    # number of increments the ingress acknowledged, and each left one audit row.
    assert counter_values(restate.ingress_url, sorted(result.per_key)) == result.per_key
    assert IncrementAudit.objects.filter(key__startswith=f"{run_id}-").count() == result.ok

    assert len(result.samples) >= SECONDS * 0.8, "the sampler stalled"
    assert result.rss_growth() < RSS_GROWTH_BOUND, figures
    assert result.peak_connections <= CONNECTION_BOUND, figures
    # The server is still healthy and its connections are not piling up after the load.
    assert db_connections() <= CONNECTION_BOUND
