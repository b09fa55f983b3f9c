"""``django_restate.testing.asgi_servers``: the project served in a subprocess by each server the
docs name, killed with its workers, stopped by SIGTERM."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import httpx
import pytest

from django_restate.testing import eventually
from django_restate.testing.asgi_servers import SERVERS, DjangoReplica, server_command

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.e2e


def test_an_unknown_server_is_refused_by_name():
    with pytest.raises(ValueError, match="'gunicorn'; choose from granian, uvicorn, hypercorn"):
        server_command("gunicorn", "demo_project.asgi:application", 8000)
    with pytest.raises(ValueError, match="gunicorn"):
        DjangoReplica("demo_project.asgi:application", {}, Path("unused.log"), server="gunicorn")


def test_the_command_runs_this_python_on_loopback():
    for server in SERVERS:
        command = server_command(server, "demo_project.asgi:application", 8123, graceful_timeout=7)
        assert command[:3] == [sys.executable, "-m", server]
        assert "demo_project.asgi:application" in command and "7" in command
        assert any("127.0.0.1" in part for part in command)


def gone(pid: int) -> None:
    """The process exits soon (a worker that its killed parent left behind dies a moment later)."""

    def check() -> None:
        assert not alive(pid), f"process {pid} still runs"

    eventually(check, timeout=5)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"  # a zombie is gone too
    except (ProcessLookupError, FileNotFoundError):
        return False


@pytest.mark.parametrize("server", SERVERS)
def test_served_killed_and_started_again_on_the_same_port(server: str, tmp_path: Path):
    env = {"DJANGO_SETTINGS_MODULE": "demo_project.settings", "DEMO_SQLITE": str(tmp_path / "db.sqlite3")}
    replica = DjangoReplica("demo_project.asgi:application", env, tmp_path / "server.log", cwd=ROOT, server=server)
    replica.start()
    try:
        assert httpx.get(f"{replica.url}/restate/health").status_code == 200
        django = replica.pid
        replica.kill()
        gone(django)  # the process running Django, a granian worker included
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{replica.url}/restate/health")
        replica.start()
        assert httpx.get(f"{replica.url}/restate/health").status_code == 200
        # A graceful stop: 0, or the SIGTERM itself, which uvicorn raises again once it has shut down.
        django = replica.pid
        assert replica.terminate() in (0, -signal.SIGTERM)
        gone(django)
    finally:
        replica.kill()


def test_stop_group_stops_a_server_and_the_worker_it_left_behind():
    """A server that exits on SIGTERM but leaves a child running (granian's worker, once the SDK
    has taken SIGTERM over): the child goes too, and the server is reaped."""
    import subprocess

    from django_restate.testing.server import stop_group

    script = 'trap "exit 0" TERM; sleep 60 & echo $!; wait'  # the trap is set before the pid is read
    server = subprocess.Popen(["sh", "-c", script], stdout=subprocess.PIPE, start_new_session=True)
    assert server.stdout is not None
    worker = int(server.stdout.readline())
    os.kill(worker, 0)  # running
    assert server.poll() is None

    stop_group(server, timeout=5)

    assert server.returncode == 0  # it exited on SIGTERM, and was reaped

    def worker_gone() -> None:  # or a zombie, until init reaps the orphan
        try:
            state = Path(f"/proc/{worker}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return
        assert state == "Z", f"the worker is still running ({state})"

    eventually(worker_gone, timeout=5)
