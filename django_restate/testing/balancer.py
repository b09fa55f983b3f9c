"""A real load balancer (Debian's ``haproxy``) on loopback, in front of groups of servers.

Used by the local cluster topology (:mod:`django_restate.testing.topology`) and its tests::

    balancer = Balancer()
    ingress = balancer.group("ingress", ["127.0.0.1:8081", "127.0.0.1:8082"], health="/restate/health")
    balancer.start()
    balancer.url("ingress")    # http://127.0.0.1:<port>, round-robin over the live servers

Each group gets its own frontend port. Servers are health-checked every 500 ms and taken out
after two failed checks; a request whose *connection* fails is dispatched to another server
(``retries`` + ``option redispatch``), which is safe because nothing reached the dead server.
A request that did reach a server that then died is not retried by haproxy: the caller sees
the error, and retries with its idempotency key (the client does).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from ..exceptions import RestateError
from .server import free_port, listening

INSTALL_HINT = "haproxy was not found: install Debian's package (`apt-get install haproxy`) or put it on PATH."


class BalancerNotFound(RestateError, RuntimeError):
    """haproxy is not installed."""


@dataclass
class Group:
    name: str
    servers: list[str]
    health: str
    port: int
    #: Speak HTTP/2 (h2c, prior knowledge) to the servers, so that a request and its response
    #: stream both ways at once (Restate's bidirectional invocation protocol) through the balancer.
    h2: bool = False


class Balancer:
    """One haproxy process; add groups with :meth:`group` before :meth:`start`."""

    def __init__(self, binary: str | None = None, base_dir: str | None = None) -> None:
        # Debian installs it in /usr/sbin, which is not on every user's PATH.
        found = binary or shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin")
        if not found:
            raise BalancerNotFound(INSTALL_HINT)
        self.binary = found
        self._own_dir = base_dir is None
        self.base_dir = Path(base_dir or tempfile.mkdtemp(prefix="haproxy-"))
        self.groups: dict[str, Group] = {}
        self.process: subprocess.Popen[bytes] | None = None

    def group(self, name: str, servers: list[str], health: str, port: int | None = None, *, h2: bool = False) -> int:
        """Balance ``servers`` (``host:port``) behind one frontend; returns the frontend's port.

        The frontend takes HTTP/1.1 and HTTP/2 with prior knowledge (h2c) alike; with ``h2`` the
        servers are spoken to in HTTP/2 too (health checks stay HTTP/1.1), which they must speak.
        """
        if self.process is not None:
            raise RuntimeError("add groups before start()")
        self.groups[name] = Group(name, list(servers), health, port or free_port(), h2)
        return self.groups[name].port

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.groups[name].port}"

    def config(self) -> str:
        lines = [
            "global",
            "    maxconn 4096",
            "defaults",
            "    mode http",
            "    timeout connect 1s",
            # Restate keeps an invocation's request open while the handler runs, and an ingress
            # call waits for the handler's result: long server/client timeouts.
            "    timeout client 10m",
            "    timeout server 10m",
            "    timeout http-request 30s",
            "    retries 3",
            "    option redispatch",
            "    default-server inter 500ms fall 2 rise 1",
        ]
        for group in self.groups.values():
            lines += [
                f"frontend {group.name}",
                f"    bind 127.0.0.1:{group.port}",
                f"    default_backend {group.name}_servers",
                f"backend {group.name}_servers",
                "    balance roundrobin",
                f"    option httpchk GET {group.health}",
            ]
            proto = " proto h2" if group.h2 else ""
            lines += [f"    server s{i} {address} check{proto}" for i, address in enumerate(group.servers, 1)]
        return "\n".join(lines) + "\n"

    def start(self, timeout: float = 10.0) -> Balancer:
        path = self.base_dir / "haproxy.cfg"
        path.write_text(self.config())
        check = subprocess.run([self.binary, "-c", "-q", "-f", str(path)], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"haproxy refused its configuration:\n{check.stdout}{check.stderr}")
        log = open(self.base_dir / "haproxy.log", "ab")  # noqa: SIM115  (kept open for the process's life)
        self.process = subprocess.Popen(
            [self.binary, "-db", "-f", str(path)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        deadline = time.monotonic() + timeout
        while not all(listening(group.port) for group in self.groups.values()):
            if self.process.poll() is not None:
                raise RuntimeError(f"haproxy exited with {self.process.returncode}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"haproxy did not listen in {timeout}s")
            time.sleep(0.05)
        return self

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._own_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> Balancer:
        return self.start()

    def __exit__(self, *exc: object | TracebackType) -> None:
        self.close()
