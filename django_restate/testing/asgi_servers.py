"""A project's ASGI application served in a subprocess by one of the servers the docs name.

- granian: HTTP/1.1 and HTTP/2 (its HTTP handling in Rust), the one docs/serving.md recommends;
- uvicorn: HTTP/1.1 only (Restate invokes the endpoint again after every step);
- hypercorn: HTTP/1.1 and h2c.

:func:`server_command` is the one place these command lines are written (tests, benchmarks, the
cluster topology); :class:`DjangoReplica` runs one on a fixed port, so that it can be killed and
started again where Restate expects it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from .server import free_port, kill_group, wait_for_http

SERVERS = ("granian", "uvicorn", "hypercorn")


def check_server(server: str) -> None:
    """Refuse, by name, a server that is not one of :data:`SERVERS`."""
    if server not in SERVERS:
        raise ValueError(f"unknown ASGI server {server!r}; choose from {', '.join(SERVERS)}")


def server_command(
    server: str, application: str, port: int, *, log_level: str = "warning", graceful_timeout: int | None = None
) -> list[str]:
    """The command serving ``application`` (``module:attribute``) on 127.0.0.1:``port`` with one
    worker process and an event loop, giving in-flight requests ``graceful_timeout`` seconds after
    SIGTERM (the server's default if None)."""
    check_server(server)
    python = [sys.executable, "-m"]
    if server == "granian":
        # --loop asyncio: under uvloop the server's SIGTERM handler cannot be chained (docs/serving.md).
        command = [*python, "granian", "--interface", "asgi", "--loop", "asyncio", "--host", "127.0.0.1",
                   "--port", str(port), "--workers", "1", "--log-level", log_level, "--no-ws"]  # fmt: skip
        if graceful_timeout is not None:
            command += ["--workers-kill-timeout", str(graceful_timeout)]
        return [*command, application]
    if server == "uvicorn":
        command = [*python, "uvicorn", application, "--host", "127.0.0.1", "--port", str(port),
                   "--log-level", log_level, "--no-access-log"]  # fmt: skip
        if graceful_timeout is not None:
            command += ["--timeout-graceful-shutdown", str(graceful_timeout)]
        return command
    # hypercorn; --workers 0: serves in this process, no supervisor
    command = [*python, "hypercorn", application, "--workers", "0", "--bind", f"127.0.0.1:{port}",
               "--log-level", log_level]  # fmt: skip
    if graceful_timeout is not None:
        command += ["--graceful-timeout", str(graceful_timeout)]
    return command


class DjangoReplica:
    """``application`` served by ``server`` in a subprocess, on one port for its whole life.

    The process gets a session of its own, so :meth:`kill` reaches a server's worker processes
    too (granian's main process only forwards connections and signals).
    """

    def __init__(
        self,
        application: str,
        env: Mapping[str, str],
        log_path: Path,
        port: int | None = None,
        cwd: Path | None = None,
        graceful_timeout: int = 5,
        server: str = "uvicorn",
    ) -> None:
        check_server(server)
        self.application = application
        self.env = dict(env)
        self.log_path = log_path
        self.port = port or free_port()
        self.cwd = cwd or Path.cwd()
        self.graceful_timeout = graceful_timeout
        self.server = server
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int:
        """The process running Django: the server's own, or granian's one worker."""
        assert self.process is not None
        if self.server != "granian":
            return self.process.pid
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        if len(children) != 1:
            raise RuntimeError(f"granian ({self.process.pid}) has {len(children)} worker processes, not one")
        return int(children[0])

    def start(self, timeout: float = 60.0) -> DjangoReplica:
        command = server_command(self.server, self.application, self.port, graceful_timeout=self.graceful_timeout)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=self.cwd,
                env={**os.environ, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            # The first request also makes the SDK install its SIGTERM hook, as in production.
            wait_for_http(self.url + "/restate/health", timeout, process=self.process, ok=200)
        except RuntimeError:
            raise RuntimeError(f"{self.server} exited with {self.process.returncode}:\n{self.log_tail()}") from None
        except TimeoutError:
            self.kill()  # never leave a half-started server behind
            answer = f"{self.server} did not answer on {self.url} in {timeout}s:\n{self.log_tail()}"
            raise TimeoutError(answer) from None
        return self

    def kill(self) -> None:
        """``kill -9`` of the server and its workers, like a crash or an OOM kill (workers left
        behind by a main process that already exited included)."""
        if self.process is not None:
            kill_group(self.process)

    def terminate(self, timeout: float = 30.0) -> int:
        """``kill -TERM``, as systemd or Kubernetes stop a server; returns its exit code."""
        if self.process is None or not self.alive:
            return 0
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
