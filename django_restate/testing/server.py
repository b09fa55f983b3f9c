"""Start and stop a real ``restate-server`` on free loopback ports, with its own data dir.

Used by the test suite, the pytest plugin, the demo script and the benchmarks::

    with RestateServer() as server:
        print(server.admin_url, server.ingress_url)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

import httpx

from ..exceptions import RestateError
from .waiting import eventually

ENV_BINARY = "RESTATE_SERVER_BIN"
INSTALL_HINT = (
    "restate-server was not found. Run `npm ci` in the project root (package.json pins "
    "@restatedev/restate-server), put restate-server on PATH, or set RESTATE_SERVER_BIN."
)


class RestateServerNotFound(RestateError, RuntimeError):
    pass


def find_binary(start: Path | None = None) -> str:
    """The restate-server binary: $RESTATE_SERVER_BIN, node_modules/.bin above ``start``, or PATH."""
    explicit = os.environ.get(ENV_BINARY)
    if explicit:
        if not Path(explicit).is_file():
            raise RestateServerNotFound(f"{ENV_BINARY}={explicit} does not exist. {INSTALL_HINT}")
        return explicit
    here = (start or Path.cwd()).resolve()
    for folder in [here, *here.parents]:
        # The platform binary itself, not the npm launcher (a node process) in front of it: a
        # `kill -9` of the launcher would leave the real server running, ports and all.
        for platform_binary in sorted(folder.glob("node_modules/@restatedev/restate-server-*/bin/restate-server")):
            return str(platform_binary)
        candidate = folder / "node_modules" / ".bin" / "restate-server"
        if candidate.exists():
            return str(candidate)
    found = shutil.which("restate-server")
    if found:
        return found
    raise RestateServerNotFound(INSTALL_HINT)


def wait_for_http(
    url: str, timeout: float = 30.0, process: subprocess.Popen[bytes] | None = None, ok: int | None = None
) -> None:
    """Poll ``url`` until the server behind it answers (with status ``ok`` when given).

    Raises RuntimeError at once when ``process`` exits, TimeoutError after ``timeout`` seconds.
    """

    def answers() -> None:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server for {url} exited with {process.returncode}")
        status = httpx.get(url, timeout=1).status_code
        assert ok is None or status == ok, f"{url} answered {status}, not {ok}"

    try:
        eventually(answers, timeout, retry_on=(AssertionError, httpx.HTTPError))
    except (AssertionError, httpx.HTTPError) as exc:
        raise TimeoutError(f"nothing answered on {url} in {timeout}s") from exc


def switches(*, always_replay: bool = False, disable_retries: bool = False) -> dict[str, str]:
    """The server settings behind ``RestateServer``'s switches, as the SDK's harness sets them."""
    env: dict[str, str] = {}
    if always_replay:
        env["RESTATE_WORKER__INVOKER__INACTIVITY_TIMEOUT"] = "0s"
    if disable_retries:
        env["RESTATE_DEFAULT_RETRY_POLICY__MAX_ATTEMPTS"] = "1"
        env["RESTATE_DEFAULT_RETRY_POLICY__ON_MAX_ATTEMPTS"] = "kill"
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """``kill -9`` of a process started with ``start_new_session`` and of everything in its group
    (a server's workers, a launcher's binary, even when the process itself already exited), then
    reap it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def stop_group(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
    """Send ``sig`` to a server started with ``start_new_session``, give it ``timeout`` seconds to
    exit, then :func:`kill_group` whatever of its group is left, even after it exited (a worker
    process a server left behind). For servers whose children have nothing to flush: a benchmark's
    ASGI servers, not a restate-server, whose binary may still be shutting down when its launcher
    exits."""
    if process.poll() is None:
        process.send_signal(sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout)
    kill_group(process)


class RestateServer:
    """One restate-server process. ``restart()`` keeps the data dir, as a crash would.

    The SDK's own test harness has two switches, and so does this: ``always_replay`` makes the
    server suspend an invocation at every await and resume it by replaying its journal (an
    inactivity timeout of 0s), so non-deterministic handlers fail against the real server too;
    ``disable_retries`` makes a failed attempt final (one attempt, then the invocation is killed).
    ``always_replay`` matters for endpoints served over HTTP/2: over HTTP/1.1 Restate drives an
    endpoint request-response, suspending and replaying at every await that has to wait anyway.
    """

    def __init__(
        self,
        binary: str | None = None,
        base_dir: str | None = None,
        env: dict[str, str] | None = None,
        node_name: str = "django-restate",
        *,
        always_replay: bool = False,
        disable_retries: bool = False,
    ):
        self.binary = binary or find_binary()
        self.node_name = node_name
        self._own_dir = base_dir is None
        self.base_dir = base_dir or tempfile.mkdtemp(prefix="restate-")
        self.ingress_port = free_port()
        self.admin_port = free_port()
        self.node_port = free_port()
        self.extra_env = {**switches(always_replay=always_replay, disable_retries=disable_retries), **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = Path(self.base_dir) / "server.log"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    @property
    def ingress_url(self) -> str:
        return f"http://127.0.0.1:{self.ingress_port}"

    @property
    def node_url(self) -> str:
        """The node-to-node address (what other nodes of a cluster list as a metadata server)."""
        return f"http://127.0.0.1:{self.node_port}"

    def start(self, timeout: float = 30.0) -> RestateServer:
        self.launch()
        self.wait_ready(timeout)
        return self

    def launch(self) -> None:
        """Start the process without waiting: a cluster's nodes must all be up before any is ready."""
        env = {
            **os.environ,
            "RESTATE_INGRESS__BIND_ADDRESS": f"127.0.0.1:{self.ingress_port}",
            "RESTATE_ADMIN__BIND_ADDRESS": f"127.0.0.1:{self.admin_port}",
            "RESTATE_BIND_ADDRESS": f"127.0.0.1:{self.node_port}",
            "RESTATE_ADVERTISED_ADDRESS": f"http://127.0.0.1:{self.node_port}",
            **self.extra_env,
        }
        log = open(self.log_path, "ab")  # noqa: SIM115  (kept open for the process's life)
        self.process = subprocess.Popen(
            [self.binary, "--base-dir", self.base_dir, "--node-name", self.node_name, "--log-filter", "warn"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_ready(self, timeout: float) -> None:
        """Until the admin API, the ingress and the admin's SQL queries all answer."""

        def ready() -> None:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"restate-server exited with {self.process.returncode}:\n{self.log_tail()}")
            admin = httpx.get(f"{self.admin_url}/health", timeout=1)
            ingress = httpx.get(f"{self.ingress_url}/restate/health", timeout=1)
            query = httpx.post(
                f"{self.admin_url}/query",
                json={"query": "SELECT 1 AS one FROM sys_deployment LIMIT 1"},
                headers={"accept": "application/json"},
                timeout=2,
            )
            statuses = (admin.status_code, ingress.status_code, query.status_code)
            assert statuses == (200, 200, 200), f"admin, ingress and query answered {statuses}"

        try:
            eventually(ready, timeout, 0.1, retry_on=(AssertionError, httpx.HTTPError))
        except (AssertionError, httpx.HTTPError) as exc:
            raise TimeoutError(f"restate-server did not become ready in {timeout}s:\n{self.log_tail()}") from exc

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        # The npm launcher forwards SIGTERM/SIGINT to the real binary but cannot forward SIGKILL:
        # kill its whole process group (start_new_session) or the binary outlives it, ports and all.
        if sig == signal.SIGKILL:
            kill_group(self.process)
        else:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                kill_group(self.process)
        # The launcher can exit before the binary it started has let go of its ports.
        with contextlib.suppress(AssertionError):
            eventually(self._ports_released, timeout)

    def _ports_released(self) -> None:
        assert not any(listening(p) for p in (self.ingress_port, self.admin_port)), "restate-server still listens"

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def restart(self, timeout: float = 30.0) -> None:
        self.stop()
        self.start(timeout)

    def close(self) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> RestateServer:
        return self.start()

    def __exit__(self, *exc: object | TracebackType) -> None:
        self.close()
