"""The ASGI router: lifespan, routing between Django and the endpoint, Channels composition."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from django_restate.asgi import RestateEndpoint, RestateRouter, get_asgi_application


async def call(app, scope, body=b""):
    """Drive one ASGI request and collect what the app sent."""
    sent = []
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive():
        if messages:
            return messages.pop(0)
        await asyncio.sleep(3600)

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body


def http(path, method="GET", headers=(), root_path=""):
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": root_path,
        "query_string": b"",
        "headers": [(b"host", b"testserver"), *headers],
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 1234),
    }


@pytest.fixture
def app():
    return get_asgi_application()


def test_lifespan_is_answered(app):
    async def run():
        inbox = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
        sent = []

        async def receive():
            return inbox.pop(0)

        async def send(message):
            sent.append(message["type"])

        await app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
        return sent

    assert asyncio.run(run()) == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


def test_endpoint_paths_go_to_restate(app):
    status, body = asyncio.run(call(app, http("/restate/health")))
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    status, body = asyncio.run(
        call(app, http("/restate/discover", headers=[(b"accept", b"application/vnd.restate.endpointmanifest.v4+json")]))
    )
    manifest = json.loads(body)
    assert status == 200 and manifest["protocolMode"] == "REQUEST_RESPONSE"
    assert {s["name"] for s in manifest["services"]} >= {"Cart", "Checkout", "Greeter"}


def test_unknown_service_and_handler_are_404(app):
    assert asyncio.run(call(app, http("/restate/invoke/Nope/run", "POST")))[0] == 404
    assert asyncio.run(call(app, http("/restate/invoke/Greeter/nope", "POST")))[0] == 404
    assert asyncio.run(call(app, http("/restate/whatever")))[0] == 404


@pytest.mark.django_db
def test_other_paths_go_to_django(app):
    status, body = asyncio.run(call(app, http("/")))
    assert status == 200 and b"django-restate demo shop" in body
    # A path that merely starts with the prefix's letters is Django's, not the endpoint's.
    assert asyncio.run(call(app, http("/restatement")))[0] == 404


def test_root_path_is_stripped_before_routing():
    router = RestateRouter(django_app=None, endpoint=RestateEndpoint(), prefix="/restate/")  # type: ignore[arg-type]
    assert router.is_restate(http("/shop/restate/health", root_path="/shop"))
    assert router.is_restate(http("/restate"))
    assert not router.is_restate(http("/shop/admin/", root_path="/shop"))


def test_discovery_schema_uses_our_types(app):
    accept = [(b"accept", b"application/vnd.restate.endpointmanifest.v4+json")]
    manifest = json.loads(asyncio.run(call(app, http("/restate/discover", headers=accept)))[1])
    cart = next(s for s in manifest["services"] if s["name"] == "Cart")
    add_item = next(h for h in cart["handlers"] if h["name"] == "add_item")
    assert add_item["input"]["jsonSchema"]["properties"]["quantity"]["exclusiveMinimum"] == 0
    assert add_item["output"]["jsonSchema"] == {"type": "integer"}
    clear = next(h for h in cart["handlers"] if h["name"] == "clear")
    assert "jsonSchema" not in clear.get("output", {})
    assert cart["documentation"].startswith("Shopping cart")


def test_channels_urlrouter_mounts_the_endpoint():
    from tests.asgi_apps import channels_app

    status, body = asyncio.run(call(channels_app, http("/restate/health")))
    assert (status, json.loads(body)) == (200, {"status": "ok"})


def test_a_request_that_is_not_restate_is_answered_without_an_error_log(app, caplog):
    """A scanner POSTing to /invoke gets the SDK's 4xx, and the log no ERROR traceback."""
    with caplog.at_level(logging.DEBUG):
        status, body = asyncio.run(call(app, http("/restate/invoke/Greeter/greet", "POST"), b'"Ada"'))
    assert status == 415 and body
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_real_errors_are_still_logged(caplog):
    """Only the 4xx answered for the caller are dropped: anything else still reaches the log."""
    logger = logging.getLogger("restate.server")
    with caplog.at_level(logging.ERROR, logger="restate.server"):
        try:
            raise RuntimeError("handler crashed")
        except RuntimeError:
            logger.exception("Exception in ASGI app")
    assert [r.getMessage() for r in caplog.records] == ["Exception in ASGI app"]


def test_importing_asgi_configures_no_logging():
    """Only building an endpoint installs the 4xx log filter; importing the module changes nothing."""
    code = (
        "import logging, django_restate.asgi as asgi\n"
        "logger = logging.getLogger('restate.server')\n"
        "assert logger.filters == [], logger.filters\n"
        "asgi.RestateEndpoint(); asgi.RestateEndpoint()\n"
        "assert [type(f).__name__ for f in logger.filters] == ['AnsweredClientErrors'], logger.filters\n"
    )
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
