"""manage.py restate_register and restate_services, against a real restate-server."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import restate
from django.core.management import CommandError, call_command

from django_restate import Service, registry
from django_restate.asgi import get_asgi_application
from django_restate.testing import eventually
from django_restate.testing.live import LiveASGIServer
from django_restate.testing.server import RestateServer, free_port

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def restate_pair():
    with RestateServer() as server, LiveASGIServer(get_asgi_application(), "uvicorn") as live:
        yield server, live.url + "/restate"


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_dry_run_registers_nothing(restate_pair):
    server, url = restate_pair
    out, _ = run("restate_register", url, "--admin-url", server.admin_url, "--dry-run")
    assert "Would register" in out and "HTTP/1.1" in out
    assert "  Cart (VirtualObject)" in out and "    add_item [Exclusive]" in out
    with pytest.raises(CommandError, match="differs from the code"):
        run("restate_register", url, "--admin-url", server.admin_url, "--check")


def test_register_then_check(restate_pair, isolated_registry):
    server, url = restate_pair
    out, _ = run("restate_register", url, "--admin-url", server.admin_url)
    assert out.startswith(f"Registered {url} as dp_")
    assert "  Checkout (Workflow)" in out and "    run [Workflow]" in out and "    approve [Shared]" in out
    out, _ = run("restate_register", url, "--admin-url", server.admin_url, "--check")
    assert "match the code" in out

    class Newcomer(Service):
        async def hello(self, ctx: restate.Context) -> str:
            return "hi"

    registry.register(Newcomer)
    registry.unregister(registry.get("Greeter").cls)
    err = io.StringIO()
    with pytest.raises(CommandError, match=r"in 2 place\(s\)"):
        call_command("restate_register", url, "--admin-url", server.admin_url, "--check", stderr=err)
    assert "Newcomer: in the code, not registered with Restate" in err.getvalue()
    assert "Greeter: registered from this deployment, no longer in the code" in err.getvalue()


def test_unreachable_deployment_names_the_url(restate_pair):
    server, _ = restate_pair
    dead = f"http://127.0.0.1:{free_port()}/restate"
    with pytest.raises(CommandError, match=f"Cannot reach the deployment at {dead}"):
        run("restate_register", dead, "--admin-url", server.admin_url)


def test_admin_api_headers_are_sent(restate_pair):
    _, url = restate_pair
    seen: list[dict[str, str]] = []

    async def fake_admin(scope, receive, send):
        if scope["type"] != "http":
            return
        seen.append({k.decode(): v.decode() for k, v in scope["headers"]})
        lists = {"/deployments": {"deployments": []}, "/services": {"services": []}}  # asked after registering
        answer = lists.get(scope["path"]) if scope["method"] == "GET" else None
        body = json.dumps(answer or {"id": "dp_x", "services": []}).encode()
        await send({"type": "http.response.start", "status": 201, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})

    with LiveASGIServer(fake_admin, "uvicorn") as admin:
        out, _ = run(
            "restate_register", url, "--admin-url", admin.url, "-H", "Authorization: Bearer s3cret", "--no-force"
        )
    assert "Registered" in out
    assert seen[-1]["authorization"] == "Bearer s3cret"


def test_malformed_header_is_a_usage_error():
    with pytest.raises(CommandError, match="expected 'Name: value'"):
        run("restate_register", "-H", "no-colon-here")


def test_unreachable_admin_exits_non_zero_without_traceback(tmp_path):
    port = free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "demo_project.settings", "DEMO_SQLITE": str(tmp_path / "db")}
    result = subprocess.run(
        [sys.executable, "manage.py", "restate_register", "--admin-url", f"http://127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert f"CommandError: Cannot reach the Restate admin API at http://127.0.0.1:{port}" in result.stderr


def test_unreachable_admin_names_the_admin_url(restate_pair):
    _, url = restate_pair
    admin_url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(CommandError, match=f"Cannot reach the Restate admin API at {admin_url}"):
        run("restate_register", url, "--admin-url", admin_url)


def test_restate_services_lists_discovery():
    out, _ = run("restate_services")
    assert "Cart (VirtualObject)  demo_project.shop.restate_services.Cart" in out
    assert "  add_item(CartItem) -> int [exclusive]" in out
    assert "  items() -> dict[str, int] [shared]" in out
    data = json.loads(run("restate_services", "--json")[0])
    greeter = next(s for s in data if s["name"] == "Greeter")
    assert greeter == {
        "name": "Greeter",
        "class": "demo_project.shop.restate_services.Greeter",
        "type": "Service",
        "handlers": {"greet": None},
    }


def test_rolling_deploy_reports_superseded_and_prunes_only_once_drained(restate_pair, transactional_db):
    """Revision 2 registered under a new URL supersedes revision 1; a workflow started on
    revision 1 stays pinned to it, so --prune keeps it until the workflow has finished."""
    import httpx

    server, url = restate_pair
    old_url, new_url = f"{url}/rev-1", f"{url}/rev-2"
    out, _ = run("restate_register", old_url, "--admin-url", server.admin_url)
    old_id = out.split(" as ")[1].split()[0]
    ingress = server.ingress_url
    workflow = f"rolling-{os.getpid()}"
    started = httpx.post(f"{ingress}/Checkout/{workflow}/run/send", json={"customer": "ada", "items": {}}, timeout=10)
    assert started.json()["status"] == "Accepted", started.text

    def awaiting_approval() -> None:
        assert httpx.post(f"{ingress}/Checkout/{workflow}/status", timeout=10).json() == "awaiting approval"

    eventually(awaiting_approval, timeout=20)

    out, _ = run("restate_register", new_url, "--admin-url", server.admin_url, "--prune")
    assert f"Superseded: {old_id} ({old_url}), 1 invocation(s) still pinned to it" in out
    assert old_id in {d["id"] for d in httpx.get(f"{server.admin_url}/deployments").json()["deployments"]}

    httpx.post(f"{ingress}/Checkout/{workflow}/approve", json=False, timeout=10)
    result = httpx.get(f"{ingress}/restate/workflow/Checkout/{workflow}/attach", timeout=30)
    assert result.json() == "rejected"
    out, _ = run("restate_register", new_url, "--admin-url", server.admin_url, "--prune")
    assert f"Removed {old_id} ({old_url}): superseded and drained." in out
    left = {d["id"] for d in httpx.get(f"{server.admin_url}/deployments").json()["deployments"]}
    assert old_id not in left
    # Leave the module's server as the other tests expect it: nothing registered. (pytest-django
    # runs this transactional test before the module's others.)
    for deployment_id in left:
        httpx.delete(f"{server.admin_url}/deployments/{deployment_id}", params={"force": "true"}, timeout=10)
