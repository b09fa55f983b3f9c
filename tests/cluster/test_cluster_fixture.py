"""The ``restate_cluster`` fixture: three nodes, any node's ingress serves, a node can die; and the
topology's replicas are served over HTTP/2 through the balancer."""

from __future__ import annotations

import httpx
import pytest

from django_restate.testing.cluster import RestateCluster
from django_restate.testing.topology import LocalTopology

pytestmark = pytest.mark.e2e


def test_every_node_answers_and_one_can_die(restate_cluster: RestateCluster):
    assert len(restate_cluster.nodes) == 3
    health = httpx.get(f"{restate_cluster.admin_url}/cluster-health", timeout=10).json()
    assert sorted(health["metadata_cluster_health"]["members"]) == [1, 2, 3]
    restate_cluster.kill(2)
    try:
        assert len(restate_cluster.live) == 2
        restate_cluster.wait_ready()  # the two others lead every partition now
        for url in restate_cluster.ingress_urls[:2]:
            assert httpx.get(f"{url}/restate/health", timeout=10).status_code == 200
    finally:
        restate_cluster.restart(2)
    assert len(restate_cluster.live) == 3


def test_replication_cannot_exceed_the_nodes():
    with pytest.raises(ValueError, match="replication must be between 1 and the number of nodes"):
        RestateCluster(nodes=2, replication=3)


def test_invocations_stream_through_the_balancer(cluster: LocalTopology):
    """The replicas are registered through haproxy over HTTP/2 (h2c both ways), so Restate streams
    each invocation instead of invoking the endpoint again after every step."""
    deployment_id = cluster.register(force=True)
    deployment = httpx.get(f"{cluster.admin_url}/deployments/{deployment_id}", timeout=10).json()
    assert deployment["protocol_type"] == "BidiStream", deployment
