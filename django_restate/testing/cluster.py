"""Start a replicated Restate cluster of real ``restate-server`` nodes on loopback.

The sibling of :class:`~django_restate.testing.server.RestateServer` for tests and local
topologies that must survive a node dying::

    with RestateCluster(nodes=3, replication=2) as cluster:
        cluster.ingress_urls        # one ingress per node; any of them serves every service
        cluster.kill(1)             # kill -9 node 1 (its data dir is kept)
        cluster.restart(1)          # it rejoins the cluster

Each node gets its own free ports and data dir. Every node lists every node as a metadata
server, exactly one node provisions the cluster, and :meth:`RestateCluster.wait_ready` returns
only when every live node answers a query that reads every partition, i.e. when every
partition has a leader. (Right after a start or a kill, queries fail for a moment with
"node lookup for partition N failed" or "connect throttled" until leaders are elected.)
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path
from types import TracebackType

import httpx

from .server import RestateServer

#: A query that touches every partition: it fails until each one has a leader.
EVERY_PARTITION = "SELECT COUNT(*) AS n FROM sys_invocation"


class RestateCluster:
    """``nodes`` restate-server processes forming one cluster with ``replication`` copies of each log."""

    def __init__(
        self,
        nodes: int = 3,
        replication: int = 2,
        binary: str | None = None,
        base_dir: str | None = None,
        name: str = "django-restate",
        env: dict[str, str] | None = None,
    ) -> None:
        if nodes < 1:
            raise ValueError("a cluster needs at least one node")
        if not 1 <= replication <= nodes:
            raise ValueError(f"replication must be between 1 and the number of nodes ({nodes}), got {replication}")
        self.name = name
        self.replication = replication
        self._own_dir = base_dir is None
        self.base_dir = base_dir or tempfile.mkdtemp(prefix="restate-cluster-")
        self.nodes = [
            RestateServer(binary=binary, base_dir=str(Path(self.base_dir) / f"n{i + 1}"), node_name=f"n{i + 1}")
            for i in range(nodes)
        ]
        metadata = json.dumps([node.node_url for node in self.nodes])
        for index, node in enumerate(self.nodes):
            Path(node.base_dir).mkdir(parents=True, exist_ok=True)
            node.extra_env = {
                "RESTATE_CLUSTER_NAME": name,
                "RESTATE_DEFAULT_REPLICATION": str(replication),
                "RESTATE_AUTO_PROVISION": "true" if index == 0 else "false",
                "RESTATE_METADATA_CLIENT__ADDRESSES": metadata,
                **(env or {}),
            }

    @property
    def ingress_urls(self) -> list[str]:
        return [node.ingress_url for node in self.nodes]

    @property
    def admin_urls(self) -> list[str]:
        return [node.admin_url for node in self.nodes]

    @property
    def live(self) -> list[RestateServer]:
        return [node for node in self.nodes if node.alive]

    @property
    def ingress_url(self) -> str:
        """The ingress of the first live node (for code that talks to one node)."""
        return self._first_live().ingress_url

    @property
    def admin_url(self) -> str:
        """The admin API of the first live node."""
        return self._first_live().admin_url

    def _first_live(self) -> RestateServer:
        live = self.live
        if not live:
            raise RuntimeError("no node of the cluster is running")
        return live[0]

    def start(self, timeout: float = 60.0) -> RestateCluster:
        try:
            for node in self.nodes:
                node.launch()
            self.wait_ready(timeout)
        except BaseException:
            self.close()  # never leave nodes running when the cluster did not come up
            raise
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Return once every live node serves and every partition has a leader."""
        deadline = time.monotonic() + timeout
        for node in self.live:
            node.wait_ready(max(deadline - time.monotonic(), 0.1))
        while time.monotonic() < deadline:
            if all(self._reads_every_partition(node) for node in self.live):
                return
            time.sleep(0.1)
        logs = "\n".join(f"--- {node.node_name}\n{node.log_tail(10)}" for node in self.nodes)
        raise TimeoutError(f"the cluster's partitions did not all get a leader in {timeout}s:\n{logs}")

    @staticmethod
    def _reads_every_partition(node: RestateServer) -> bool:
        try:
            response = httpx.post(
                f"{node.admin_url}/query",
                json={"query": EVERY_PARTITION},
                headers={"accept": "application/json"},
                timeout=2,
            )
        except httpx.HTTPError:
            return False
        return response.status_code == 200 and "rows" in response.json()

    def kill(self, index: int) -> None:
        """``kill -9`` one node (0-based); its data dir is kept, as after a crash."""
        self.nodes[index].kill()

    def stop(self, index: int) -> None:
        """Stop one node with SIGTERM."""
        self.nodes[index].stop()

    def restart(self, index: int, timeout: float = 60.0) -> None:
        """Start a stopped or killed node again on its ports and data dir, and wait for the cluster."""
        node = self.nodes[index]
        node.stop()
        node.launch()
        self.wait_ready(timeout)

    def close(self) -> None:
        for node in self.nodes:
            node.stop()
        if self._own_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> RestateCluster:
        return self.start()

    def __exit__(self, *exc: object | TracebackType) -> None:
        self.close()
