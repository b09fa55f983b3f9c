"""A production-shaped topology on one machine: a Restate cluster, several Django replicas and a
load balancer in front of both.

::

    three restate-server nodes ──┐                     ┌── Django replica 1 (granian)
                                 ├── haproxy ──────────┤
    clients, views, admin ───────┘  (ingress, admin,   └── Django replica 2 (granian)
                                     deployment)

Restate reaches Django through the balancer (``DEPLOYMENT_URL``), in HTTP/2 end to end when the
replicas speak it (granian, hypercorn: the invocation streams), and Django reaches Restate's
ingress and admin API through it (``INGRESS_URL``, ``ADMIN_URL``), so no process names another
process directly and any one of them can die. ``scripts/cluster`` runs it for people
(``python -m django_restate.testing.topology``); the cluster tests run it for the suite.
"""

from __future__ import annotations

import signal
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from .asgi_servers import DjangoReplica
from .balancer import Balancer
from .cluster import RestateCluster
from .server import free_port, wait_for_http

__all__ = ["DjangoReplica", "LocalTopology"]


class LocalTopology:
    """``nodes`` Restate nodes and ``replicas`` Django replicas (served by ``server``) behind one haproxy."""

    def __init__(
        self,
        nodes: int = 3,
        replicas: int = 2,
        replication: int = 2,
        application: str = "demo_project.asgi:application",
        env: Mapping[str, str] | None = None,
        base_dir: str | None = None,
        cwd: Path | None = None,
        server: str = "granian",
    ) -> None:
        self.base_dir = Path(base_dir or tempfile.mkdtemp(prefix="restate-topology-"))
        self.cluster = RestateCluster(nodes=nodes, replication=replication, base_dir=str(self.base_dir / "restate"))
        self.balancer = Balancer(base_dir=str(self.base_dir / "haproxy"))
        (self.base_dir / "haproxy").mkdir(parents=True, exist_ok=True)
        self.replica_ports = [free_port() for _ in range(replicas)]
        self.balancer.group("ingress", [f"127.0.0.1:{n.ingress_port}" for n in self.cluster.nodes], "/restate/health")
        self.balancer.group("admin", [f"127.0.0.1:{n.admin_port}" for n in self.cluster.nodes], "/health")
        # HTTP/2 to replicas that speak it, so that Restate's invocations stream through the balancer.
        replicas_h2 = server != "uvicorn"
        self.balancer.group("django", [f"127.0.0.1:{p}" for p in self.replica_ports], "/restate/health", h2=replicas_h2)
        replica_env = {
            "RESTATE_INGRESS_URL": self.ingress_url,
            "RESTATE_ADMIN_URL": self.admin_url,
            "RESTATE_DEPLOYMENT_URL": self.deployment_url,
            **(env or {}),
        }
        self.replicas = [
            DjangoReplica(
                application, replica_env, self.base_dir / f"django-{i + 1}.log", port=port, cwd=cwd, server=server
            )
            for i, port in enumerate(self.replica_ports)
        ]

    @property
    def ingress_url(self) -> str:
        return self.balancer.url("ingress")

    @property
    def admin_url(self) -> str:
        return self.balancer.url("admin")

    @property
    def django_url(self) -> str:
        return self.balancer.url("django")

    @property
    def deployment_url(self) -> str:
        return self.django_url + "/restate"

    def start(self, timeout: float = 90.0) -> LocalTopology:
        try:
            self.cluster.start(timeout)
            self.balancer.start()
            for replica in self.replicas:
                replica.start()
            self.wait_balanced()
        except BaseException:
            self.close()  # never leave half a topology running (``with`` does not call __exit__ here)
            raise
        return self

    def wait_balanced(self, timeout: float = 15.0) -> None:
        """Until the balancer serves each group (its health checks have marked servers up)."""
        for url in (f"{self.ingress_url}/restate/health", f"{self.admin_url}/health", f"{self.deployment_url}/health"):
            wait_for_http(url, timeout, ok=200)

    def register(self, force: bool = True) -> str:
        """Register the deployment through the balancer (what ``manage.py restate_register`` does); its id."""
        from ..admin_api import AdminAPI
        from ..deployments import register

        with AdminAPI(self.admin_url) as admin:
            result = register(admin, self.deployment_url, force=force)
        return result.deployment_id or ""

    def restart_replica(self, index: int, sig: int = signal.SIGKILL) -> None:
        """Stop replica ``index`` (kill -9 by default, SIGTERM for a graceful stop) and start it again."""
        replica = self.replicas[index]
        if sig == signal.SIGKILL:
            replica.kill()
        else:
            replica.terminate()
        replica.start()  # the balancer's next health check (every 500 ms) puts it back in rotation

    def close(self) -> None:
        for replica in self.replicas:
            replica.kill()
        self.balancer.close()
        self.cluster.close()

    def __enter__(self) -> LocalTopology:
        return self.start()

    def __exit__(self, *exc: object | TracebackType) -> None:
        self.close()


def main(argv: list[str] | None = None) -> None:
    """``python -m django_restate.testing.topology``: run the topology until Ctrl-C (``scripts/cluster``)."""
    import argparse

    import django

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--nodes", type=int, default=3, help="Restate nodes (default 3)")
    parser.add_argument("--replicas", type=int, default=2, help="Django replicas (default 2)")
    parser.add_argument("--replication", type=int, default=2, help="copies of each log (default 2)")
    parser.add_argument("--application", default="demo_project.asgi:application", help="the ASGI application")
    args = parser.parse_args(argv)
    django.setup()
    topology = LocalTopology(args.nodes, args.replicas, args.replication, application=args.application)
    stop = signal.Signals.SIGINT
    try:
        topology.start()
        deployment = topology.register()
        ingress = topology.ingress_url
        nodes = "\n".join(
            f"  node {i + 1}: ingress {n.ingress_url}  admin {n.admin_url}  pid {n.process.pid if n.process else '-'}"
            for i, n in enumerate(topology.cluster.nodes)
        )
        replicas = "\n".join(
            f"  replica {i + 1}: {r.url}  pid {r.process.pid if r.process else '-'}"
            for i, r in enumerate(topology.replicas)
        )
        print(
            f"""
The cluster topology is running; deployment {deployment} is registered through the balancer.

haproxy in front of everything:
  Django (admin, views, Restate endpoint): {topology.django_url}/admin/  (user admin, password admin)
  Restate ingress:                         {ingress}
  Restate admin API:                       {topology.admin_url}
{nodes}
{replicas}

Try it through the balancer, then kill a node or a replica (kill -9 <pid>) and try again:
  curl -s {ingress}/Greeter/greet --json '"Ada"'
  curl -s {ingress}/Cart/alice/add_item -H 'idempotency-key: add-1' --json '{{"sku": "tea", "quantity": 1}}'
  curl -s {topology.admin_url}/cluster-health

Logs and data: {topology.base_dir}. Ctrl-C stops everything.""",
            flush=True,
        )
        signal.sigwait({stop, signal.SIGTERM})
    finally:
        topology.close()


if __name__ == "__main__":
    main()
