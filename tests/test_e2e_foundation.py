"""The user's journey end to end: a real restate-server invokes handler classes served by
our ASGI application under uvicorn (HTTP/1.1), hypercorn and granian (HTTP/2), daphne and runserver."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from demo_project.shop.models import Order, Product
from django_restate.admin_api import AdminAPI
from django_restate.admin_api.sql import quote
from django_restate.asgi import get_asgi_application
from django_restate.deployments import register
from django_restate.testing import eventually
from django_restate.testing.live import LiveASGIServer
from django_restate.testing.server import RestateServer, free_port, kill_group, listening, wait_for_http

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def restate() -> Iterator[RestateServer]:
    # Our own server: registering other deployments must not disturb the session's one.
    with RestateServer() as server:
        yield server


@pytest.fixture(scope="module", params=["uvicorn", "hypercorn", "granian"])
def deployment(request, restate, django_db_setup, django_db_blocker):
    with LiveASGIServer(get_asgi_application(), request.param) as live:
        with AdminAPI(restate.admin_url) as admin:
            result = register(admin, live.url + "/restate")
        yield request.param, result


@pytest.fixture
def ingress(restate, deployment, transactional_db) -> Iterator[httpx.Client]:
    Product.objects.create(sku="tea", name="Tea", price="3.50", stock=10)
    with httpx.Client(base_url=restate.ingress_url, timeout=30) as client:
        yield client


def state_of(restate: RestateServer, service: str, key: str) -> dict[str, str]:
    with AdminAPI(restate.admin_url) as admin:
        rows = admin.query(
            f"SELECT key, value_utf8 FROM state WHERE service_name = {quote(service)} AND service_key = {quote(key)}"
        )
    return {row["key"]: row["value_utf8"] for row in rows}


def test_protocol_is_detected(deployment):
    kind, result = deployment
    assert result.use_http_11 is (kind == "uvicorn")
    assert {s["name"] for s in result.services} >= {"Greeter", "Cart", "Checkout"}


def test_service(ingress):
    assert ingress.post("/Greeter/greet", json="Ada").json() == "Hello, Ada! (3 letters)"


def test_virtual_object_keeps_state_and_shares_reads(ingress, restate):
    key = f"alice-{uuid.uuid4().hex[:8]}"
    assert ingress.post(f"/Cart/{key}/add_item", json={"sku": "tea", "quantity": 2}).json() == 2
    assert ingress.post(f"/Cart/{key}/add_item", json={"sku": "tea", "quantity": 3}).json() == 5
    assert ingress.post(f"/Cart/{key}/items").json() == {"tea": 5}
    assert ingress.post(f"/Cart/{key}/total").json() == 17.5
    assert state_of(restate, "Cart", key) == {"items": '{"tea": 5}'}
    other = ingress.post(f"/Cart/{key}-other/items")
    assert other.json() == {}


def test_terminal_error_reaches_the_caller(ingress):
    response = ingress.post(f"/Cart/{uuid.uuid4().hex}/add_item", json={"sku": "nope", "quantity": 1})
    assert response.status_code == 404
    assert "Unknown product 'nope'" in response.json()["message"]


def test_workflow_with_durable_step_sleep_and_promise(ingress, restate):
    order_id = f"order-{uuid.uuid4().hex[:8]}"
    started = ingress.post(f"/Checkout/{order_id}/run/send", json={"customer": "ada", "items": {"tea": 4}})
    assert started.json()["status"] == "Accepted"

    def awaiting_approval() -> None:
        assert ingress.post(f"/Checkout/{order_id}/status").json() == "awaiting approval"

    eventually(awaiting_approval, 10)
    assert Product.objects.get(sku="tea").stock == 6  # the durable step ran once
    assert ingress.post(f"/Checkout/{order_id}/approve", json=True).status_code == 200
    result = ingress.get(f"/restate/workflow/Checkout/{order_id}/attach")
    assert result.json() == "placed"
    assert Order.objects.get(order_id=order_id).total == 14
    assert Product.objects.get(sku="tea").stock == 6
    # A workflow runs once per id: a second submission does not run it again.
    again = ingress.post(f"/Checkout/{order_id}/run/send", json={"customer": "ada", "items": {"tea": 4}})
    assert again.json()["status"] == "PreviouslyAccepted"
    assert Product.objects.get(sku="tea").stock == 6


@pytest.mark.parametrize(
    ("body", "content_type", "fragment"),
    [
        (b"{not json", "application/json", "Invalid JSON"),
        (b'{"sku": "tea", "quantity": "many"}', "application/json", "quantity"),
        (b'{"sku": "tea", "quantity": 0}', "application/json", "greater than 0"),
        (b"[1, 2]", "application/json", "Input should be an object"),
        (b"\xff\xfe", "application/json", "Invalid JSON"),
    ],
    ids=["malformed", "wrong-type", "out-of-range", "wrong-shape", "invalid-utf8"],
)
def test_bad_payloads_fail_once_with_400(ingress, restate, body, content_type, fragment):
    key = f"bad-{uuid.uuid4().hex[:8]}"
    response = ingress.post(f"/Cart/{key}/add_item", content=body, headers={"content-type": content_type})
    assert response.status_code == 400, response.text
    assert fragment in response.json()["message"]
    with AdminAPI(restate.admin_url) as admin:
        [row] = admin.query(
            "SELECT status, retry_count, completion_result, completion_failure FROM sys_invocation "
            f"WHERE target_service_key = {quote(key)}"
        )
    assert (row["status"], row["completion_result"]) == ("completed", "failure"), row
    assert "400" in row["completion_failure"], row
    assert (row.get("retry_count") or 0) <= 1  # no retry storm
    assert state_of(restate, "Cart", key) == {}


def serve(command: list[str], settings: str, tmp_path: Path) -> subprocess.Popen:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": settings, "PYTHONPATH": str(ROOT)}
    env.setdefault("DEMO_SQLITE", str(tmp_path / "db.sqlite3"))
    # A session of its own: kill_group() kills a server's worker processes with it.
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )


@pytest.mark.parametrize(
    ("name", "command", "settings"),
    [
        (
            "daphne",
            ["-m", "daphne", "-b", "127.0.0.1", "-p", "{port}", "demo_project.asgi:application"],
            "demo_project.settings",
        ),
        ("runserver", ["manage.py", "runserver", "--noreload", "127.0.0.1:{port}"], "tests.runserver_settings"),
    ],
)
def test_daphne_and_runserver(restate, tmp_path, name, command, settings):
    port = free_port()
    process = serve([sys.executable, *[c.format(port=port) for c in command]], settings, tmp_path)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/restate/health", process=process)
        with AdminAPI(restate.admin_url) as admin:
            result = register(admin, f"http://127.0.0.1:{port}/restate")
        assert result.use_http_11
        response = httpx.post(f"{restate.ingress_url}/Greeter/greet", json=name, timeout=30)
        assert response.json() == f"Hello, {name}! ({len(name)} letters)"
    finally:
        kill_group(process)


SERVER_COMMANDS = {
    "uvicorn": ["-m", "uvicorn", "demo_project.asgi:application", "--port", "{port}"],
    # What docs/serving.md recommends for production (HTTP/2, so Restate streams).
    "granian": [
        "-m",
        "granian",
        "--interface",
        "asgi",
        "--loop",
        "asyncio",
        "--port",
        "{port}",
        "demo_project.asgi:application",
    ],
}


@pytest.mark.parametrize("server", sorted(SERVER_COMMANDS))
def test_sigterm_still_stops_the_server(tmp_path, server):
    """The bare SDK swallows SIGTERM under uvicorn; our application must not, under any server."""
    port = free_port()
    command = [sys.executable, *[part.format(port=port) for part in SERVER_COMMANDS[server]]]
    process = serve(command, "demo_project.settings", tmp_path)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/restate/health", process=process)
        # The SDK installs its signal handler on its first call; make sure that happened.
        assert httpx.get(f"http://127.0.0.1:{port}/restate/health").status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) is not None
        assert not listening(port)
    finally:
        kill_group(process)


@pytest.mark.parametrize(
    ("handler", "payload", "expected"),
    [
        ("mirror", {"x": 1, "y": -2}, {"x": -1, "y": 2}),
        ("area", {"width": 2, "height": 1.5}, 3.0),
        ("shout", {"text": "hi"}, {"text": "HI", "size": 24}),
        ("total", [1, 2, 3], 6),
        ("maybe", None, "nothing"),
        ("maybe", 7, "7"),
    ],
)
def test_typed_inputs_and_outputs(ingress, handler, payload, expected):
    response = ingress.post(f"/Shapes/{handler}", json=payload)
    assert response.status_code == 200, response.text
    assert response.json() == expected


def test_void_output_and_unencodable_output(ingress):
    assert ingress.post("/Shapes/nothing").content == b""
    response = ingress.post("/Shapes/unencodable")
    assert response.status_code == 500
    assert "cannot be encoded as JSON" in response.json()["message"]


def test_dataclass_field_types_are_checked(ingress):
    response = ingress.post("/Shapes/mirror", json={"x": "left", "y": 0})
    assert response.status_code == 400
    assert "x: Input should be a valid integer" in response.json()["message"]
