"""A rolling deploy on the cluster: a new revision registered under a new URL while load runs,
the Django replicas restarted one at a time with SIGTERM, and the old deployment pruned only
once nothing is pinned to it any more."""

from __future__ import annotations

import asyncio
import io
import re
import signal

import httpx
import pytest
from django.core.management import call_command

from django_restate.testing import eventually
from django_restate.testing.topology import LocalTopology
from tests.reliability.harness import Progress, assert_exactly_once, run_with_faults
from tests.reliability_app.models import Gate

pytestmark = pytest.mark.e2e


def register(cluster: LocalTopology, url: str, *flags: str) -> str:
    out = io.StringIO()
    call_command("restate_register", url, "--admin-url", cluster.admin_url, *flags, stdout=out)
    return out.getvalue()


def deployment_ids(cluster: LocalTopology) -> set[str]:
    return {d["id"] for d in httpx.get(f"{cluster.admin_url}/deployments", timeout=10).json()["deployments"]}


def every_node_routes_to(cluster: LocalTopology, service: str, deployment_id: str) -> None:
    """Until every node knows ``deployment_id`` as the latest for ``service``: a registration is
    written to the cluster's metadata and reaches the other nodes a moment later, and until then an
    ingress request they take starts on the deployment before."""

    def check() -> None:
        for admin_url in cluster.cluster.admin_urls:
            latest = httpx.get(f"{admin_url}/services/{service}", timeout=5).json()["deployment_id"]
            assert latest == deployment_id, f"{admin_url} still routes {service} to {latest}"

    eventually(check, timeout=30)


def test_rolling_deploy_under_load(cluster: LocalTopology, run_id: str):
    old_url, new_url = f"{cluster.deployment_url}/rev-{run_id}-1", f"{cluster.deployment_url}/rev-{run_id}-2"
    old_id = register(cluster, old_url).split(" as ")[1].split()[0]
    every_node_routes_to(cluster, "ReliabilityOncePipeline", old_id)
    # A workflow that started on the old revision and waits: it stays pinned to it.
    workflow, gate = f"wf-{run_id}", f"gate-{run_id}"
    ingress = cluster.ingress_url
    started = httpx.post(f"{ingress}/ReliabilityOncePipeline/{workflow}/run/send", json=gate, timeout=10)
    assert started.json()["status"] == "Accepted", started.text

    def at_the_gate() -> None:
        assert Gate.objects.filter(name=gate, entered__gte=1).exists(), "the workflow has not reached its gate"

    eventually(at_the_gate, timeout=30)

    outputs: list[str] = []

    async def new_revision(progress: Progress) -> None:
        outputs.append(await asyncio.to_thread(register, cluster, new_url, "--prune"))

    def restart(index: int):
        async def fault(progress: Progress) -> None:
            await asyncio.to_thread(cluster.restart_replica, index, signal.SIGTERM)

        return fault

    # 2,000 increments: the second restart must find some still to come, however fast the first went.
    faults = [(200, new_revision), (500, restart(0)), (1200, restart(1))]
    increments = run_with_faults(ingress, run_id, 20, faults)
    assert_exactly_once(ingress, increments, 20)

    # The waiting workflow, and increments in flight at that moment, were pinned to the old revision.
    line = rf"Superseded: {old_id} \({re.escape(old_url)}\), (\d+) invocation\(s\) still pinned"
    pinned = re.search(line, outputs[0])
    assert pinned and int(pinned[1]) >= 1, outputs[0]
    assert old_id in deployment_ids(cluster)  # the pinned workflow still needs it
    Gate.objects.filter(name=gate).update(is_open=True)
    result = httpx.get(f"{ingress}/restate/workflow/ReliabilityOncePipeline/{workflow}/attach", timeout=120)
    assert result.status_code == 200, result.text

    def pruned_once_drained() -> None:
        # What else started on the old revision (increments cut off by the SIGTERM restarts and
        # resent) may still be finishing: --prune keeps the deployment until it has.
        out = register(cluster, new_url, "--prune")
        assert f"Removed {old_id} ({old_url}): superseded and drained." in out, out.splitlines()[-3:]

    eventually(pruned_once_drained, timeout=60, interval=1.0)

    def gone_on_every_node() -> None:  # the removal, too, reaches the other nodes a moment later
        for admin_url in cluster.cluster.admin_urls:
            listed = httpx.get(f"{admin_url}/deployments", timeout=5).json()["deployments"]
            assert old_id not in {d["id"] for d in listed}, f"{admin_url} still lists {old_id}"

    eventually(gone_on_every_node, timeout=30)
