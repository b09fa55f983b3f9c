"""What restate-server's ``worker.invoker.concurrent-invocations-limit`` bounds, which
docs/deploying.md ("How many invocations at once") tells operators: in restate-server 1.7 each
partition's invoker has the limit to itself, so a node runs up to partitions x limit at once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
import restate

from django_restate.admin_api import AdminAPI
from django_restate.deployments import register
from django_restate.testing import eventually
from django_restate.testing.live import LiveASGIServer
from django_restate.testing.server import RestateServer

pytestmark = pytest.mark.e2e

PARTITIONS = 4
HOLD = 4.0  # seconds each invocation runs, long enough to count the running ones

slow = restate.Service("LimitProbe")


@slow.handler()
async def hold(ctx: restate.Context) -> str:
    await asyncio.sleep(HOLD)  # not a journaled sleep: the invocation stays running
    return "done"


@pytest.fixture(scope="module")
def limited() -> Iterator[RestateServer]:
    env = {
        "RESTATE_DEFAULT_NUM_PARTITIONS": str(PARTITIONS),
        "RESTATE_WORKER__INVOKER__CONCURRENT_INVOCATIONS_LIMIT": "1",
    }
    # hypercorn: it serves on when an app has no lifespan (the bare SDK raises on it), uvicorn does not.
    with RestateServer(env=env) as server, LiveASGIServer(restate.app([slow]), "hypercorn") as live:
        with AdminAPI(server.admin_url) as admin:
            register(admin, live.url)
        yield server


def test_the_limit_counts_per_partition_not_per_node(limited):
    with httpx.Client(base_url=limited.ingress_url, timeout=10) as ingress:
        for number in range(40):  # 40 keys reach every one of 4 partitions
            ingress.post("/LimitProbe/hold/send", headers={"idempotency-key": f"probe-{number}"}).raise_for_status()

    def statuses() -> dict[str, int]:
        with AdminAPI(limited.admin_url) as admin:
            rows = admin.query("SELECT status, count(*) AS n FROM sys_invocation GROUP BY status")
        counts = {row["status"]: row["n"] for row in rows}
        assert counts.get("running", 0) == PARTITIONS, counts
        return counts

    # One running per partition: more than the 1 a node-wide bound would allow, far fewer than 40.
    counts = eventually(statuses, timeout=HOLD - 1)
    assert sum(counts.values()) == 40, counts  # the others wait their turn
