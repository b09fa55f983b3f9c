"""SDK-style services (``greeter = restate.Service("greeter")`` with ``@greeter.handler()``, exactly as
the SDK's README writes them, in tests/sdk_app/restate_services.py) are discovered, served by the
endpoint, registered, listed and callable next to handler classes."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from io import StringIO

import httpx
import pytest
import restate
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command

from django_restate import registry
from django_restate.admin_api import AdminAPI
from django_restate.asgi import get_asgi_application
from django_restate.client import RestateClient
from django_restate.deployments import drift, expected, our_deployment_ids, register
from django_restate.endpoint import build_services
from django_restate.registry import AlreadyRegistered, Registry
from django_restate.testing.live import LiveASGIServer
from django_restate.testing.server import RestateServer
from tests.sdk_app import restate_services as sdk

SDK_NAMES = {"greeter", "pydantic_greeter", "counter", "payment"}


def test_module_level_sdk_services_are_discovered_with_the_sdks_kinds():
    assert {s.name for s in registry} >= SDK_NAMES
    assert expected(registry.get("greeter")) == {"type": "Service", "handlers": {"greet": None}}
    assert expected(registry.get("counter")) == {
        "type": "VirtualObject",
        "handlers": {"increment": "Exclusive", "count": "Shared"},
    }
    assert expected(registry.get("payment")) == {
        "type": "Workflow",
        "handlers": {"pay": "Workflow", "payment_verified": "Shared", "status": "Shared"},
    }
    assert registry.get(sdk.counter).options == {"inactivity_timeout": sdk.counter.inactivity_timeout}
    assert registry.get(sdk.greeter).sdk_service is sdk.greeter  # by the SDK object, too
    assert registry.spec("counter", "object").name == "counter"
    with pytest.raises(TypeError, match=r"counter is a VirtualObject: address it with client.object\(counter, key\)"):
        registry.spec(sdk.counter, "service")


def test_the_sdk_functions_name_their_handlers():
    spec, handler = registry.for_method(sdk.greet)
    assert (spec.name, handler.name) == ("greeter", "greet")
    assert registry.for_method(sdk.relay)[1].name == "relay"  # @handler("relay"): the SDK's name
    assert registry.for_method(sdk.count)[1].context_kind == "shared"


def test_the_callers_serdes_are_the_sdks_own():
    spec = registry.get("pydantic_greeter")
    handler = spec.handler("greet_model")
    sdk_io = sdk.pydantic_greeter.handlers["greet_model"].handler_io
    assert handler.serdes == (sdk_io.input_serde, sdk_io.output_serde)
    assert handler.input_type is sdk.GreetingRequest and handler.output_type is sdk.Greeting


def test_the_endpoint_serves_the_object_with_our_invocation_wrapping(isolated_registry):
    served = {s.name: s for s in build_services([lambda: _Nothing()])}
    greeter = served["greeter"]
    assert greeter is not sdk.greeter  # a copy: the user's object is left as it was
    assert greeter.handlers["greet"].fn is sdk.greeter.handlers["greet"].fn
    assert len(greeter.handlers["greet"].context_managers or []) == 1
    assert sdk.greeter.handlers["greet"].context_managers is None
    assert build_services()[0] is not None and {s.name for s in build_services()} >= SDK_NAMES


class _Nothing:
    async def __aenter__(self) -> None: ...

    async def __aexit__(self, *exc: object) -> None: ...


def test_register_by_hand_and_name_clashes():
    own = Registry()
    own.register(sdk.greeter)
    own.register(sdk.greeter)  # the same object again (e.g. imported into a second module) is fine
    assert [s.name for s in own] == ["greeter"]
    clash = restate.Service("greeter")

    @clash.handler()
    async def other(ctx: restate.Context) -> None: ...

    with pytest.raises(AlreadyRegistered, match="Two services are named 'greeter'"):
        own.register(clash)
    own.unregister(sdk.greeter)
    assert len(own) == 0
    with pytest.raises(ImproperlyConfigured, match="has no handlers"):
        own.register(restate.Service("empty"))
    with pytest.raises(ImproperlyConfigured, match="nor a restate.Service"):
        own.register(object())  # type: ignore[arg-type]


def test_restate_services_lists_them():
    out = StringIO()
    call_command("restate_services", "--json", stdout=out)
    listed = {s["name"]: s for s in json.loads(out.getvalue())}
    assert listed["counter"]["handlers"] == {"increment": "Exclusive", "count": "Shared"}
    assert listed["greeter"]["class"] == "tests.sdk_app.restate_services.greeter"


def test_the_mock_runs_them(restate_mock):
    greeter = registry.get("greeter").cls
    assert restate_mock.service(greeter).greet("World") == "Hello World!"
    assert restate_mock.service(registry.get("pydantic_greeter").cls).relay("Ada") == "Hello Ada!"
    counter = registry.get("counter").cls
    assert restate_mock.object(counter, "k").increment(2) == 2
    assert restate_mock.object(counter, "k").increment(3) == 5
    assert restate_mock.object(counter, "k").count() == 5


# -- end to end: a real restate-server ----------------------------------------------------------


@pytest.fixture(scope="module")
def deployment(django_db_setup, django_db_blocker) -> Iterator[tuple[RestateServer, str, list[str]]]:
    with RestateServer() as server, LiveASGIServer(get_asgi_application(), "uvicorn") as live:
        with AdminAPI(server.admin_url) as admin:
            result = register(admin, live.url + "/restate")
        yield server, live.url + "/restate", [s["name"] for s in result.services]


@pytest.mark.e2e
def test_served_registered_and_called_through_the_ingress(deployment):
    server, uri, registered = deployment
    assert set(registered) >= SDK_NAMES
    assert {"Greeter", "Cart"} <= set(registered)  # next to the handler classes
    key = f"k-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=server.ingress_url, timeout=30) as ingress:
        assert ingress.post("/greeter/greet", json="World").json() == "Hello World!"
        assert ingress.post("/pydantic_greeter/greet_model", json={"name": "Ada"}).json() == {"message": "Hello Ada!"}
        assert ingress.post("/pydantic_greeter/relay", json="Bob").json() == "Hello Bob!"
        assert ingress.post(f"/counter/{key}/increment", json=4).json() == 4
        assert ingress.post(f"/counter/{key}/count").json() == 4
        assert ingress.post(f"/payment/{key}/pay/send", json=10).status_code == 202
        assert ingress.post(f"/payment/{key}/payment_verified", json="ok").status_code == 200
        attached = ingress.get(f"/restate/workflow/payment/{key}/attach")
        assert attached.json() == "ok: 10"
    with AdminAPI(server.admin_url) as admin:
        services = admin.services()
        ours = our_deployment_ids(admin, uri)
    assert drift(services, deployment_ids=ours) == []  # the server has what the code says


@pytest.mark.e2e
def test_the_client_calls_them_by_their_stand_in_class(deployment, settings):
    server, _, _ = deployment
    client = RestateClient(url=server.ingress_url)
    assert client.service(registry.get("greeter").cls).greet("Client") == "Hello Client!"
    key = f"c-{uuid.uuid4().hex[:8]}"
    counter = client.object(registry.get("counter").cls, key)
    assert counter.increment(2) == 2
    assert counter.count() == 2


@pytest.mark.e2e
def test_the_client_calls_them_by_name_by_object_and_by_function(deployment):
    server, _, _ = deployment
    client = RestateClient(url=server.ingress_url)
    assert client.service("greeter").greet("Name") == "Hello Name!"
    assert client.service(sdk.greeter).greet("Object") == "Hello Object!"
    assert client.call(sdk.greet, "Function") == "Hello Function!"
    reply = client.service("pydantic_greeter").greet_model(sdk.GreetingRequest(name="Ada"))
    assert reply == sdk.Greeting(message="Hello Ada!")  # the SDK's own serdes, both ways
    key = f"n-{uuid.uuid4().hex[:8]}"
    assert client.object("counter", key).increment(5) == 5
    assert client.call(sdk.count, key=key) == 5
    with pytest.raises(TypeError, match=r"counter is a VirtualObject: address it with client.object\(counter, key\)"):
        client.service("counter")


def test_the_mock_addresses_them_by_name(restate_mock):
    assert restate_mock.service("greeter").greet("Mock") == "Hello Mock!"
    assert restate_mock.object("counter", "m").increment(1) == 1
