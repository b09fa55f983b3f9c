"""What the client sends and how it reads answers, checked at the HTTP boundary with httpx's
MockTransport: paths and quoting, headers, delays, error mapping, HTTP client reuse.
Restate's own behaviour is covered against the real server in test_client.py."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import httpx
import pytest
import restate

from demo_project.shop.restate_services import Cart, CartItem, Checkout, Greeter
from django_restate import Service
from django_restate.client import RestateClient
from django_restate.exceptions import HandlerError, IngressError, IngressTimeout, InvalidPayload


class Recorder:
    """A MockTransport handler that records requests and answers with a canned response."""

    def __init__(self, response: httpx.Response | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.response = response or httpx.Response(200, json="ok")

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        canned = self.response  # a fresh copy: a response's stream belongs to one sync or async request
        return httpx.Response(canned.status_code, headers=canned.headers, content=canned.content)


def make(recorder: Recorder, **kwargs) -> RestateClient:
    return RestateClient(
        "http://ingress.test:8080/",
        transport=httpx.MockTransport(recorder),
        async_transport=httpx.MockTransport(recorder),
        **kwargs,
    )


def test_call_posts_json_to_the_handler_path():
    recorder = Recorder(httpx.Response(200, json=3))
    assert make(recorder).object(Cart, "alice").add_item(CartItem(sku="tea", quantity=3)) == 3
    (request,) = recorder.requests
    assert (request.method, str(request.url)) == ("POST", "http://ingress.test:8080/Cart/alice/add_item")
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {"sku": "tea", "quantity": 3}


def test_keys_are_quoted_into_one_path_segment():
    recorder = Recorder(httpx.Response(200, json={}))
    make(recorder).object(Cart, "a/b c?d").items()
    assert recorder.requests[0].url.raw_path == b"/Cart/a%2Fb%20c%3Fd/items"


def test_handlers_without_input_send_no_body():
    recorder = Recorder(httpx.Response(200, json={}))
    make(recorder).object(Cart, "k").items()
    assert recorder.requests[0].content == b""
    assert "content-type" not in recorder.requests[0].headers


def test_headers_merge_settings_client_call_and_idempotency(settings):
    settings.RESTATE = {**settings.RESTATE, "INGRESS_HEADERS": {"authorization": "Bearer s", "x-a": "settings"}}
    recorder = Recorder()
    ingress = make(recorder, headers={"x-a": "client", "x-b": "client"})
    ingress.service(Greeter).greet("Ada", headers={"x-b": "call"}, idempotency_key="req-1")
    headers = recorder.requests[0].headers
    assert headers["authorization"] == "Bearer s"
    assert (headers["x-a"], headers["x-b"], headers["idempotency-key"]) == ("client", "call", "req-1")


def test_url_and_timeout_follow_the_setting(settings):
    recorder = Recorder()
    ingress = RestateClient(transport=httpx.MockTransport(recorder))
    settings.RESTATE = {**settings.RESTATE, "INGRESS_URL": "http://first:1"}
    ingress.service(Greeter).greet("a")
    settings.RESTATE = {**settings.RESTATE, "INGRESS_URL": "http://second:2/", "TIMEOUT": 7}
    ingress.service(Greeter).greet("b")
    assert [r.url.host for r in recorder.requests] == ["first", "second"]
    assert recorder.requests[1].extensions["timeout"]["read"] == 7


def test_send_with_delay_and_the_handle():
    recorder = Recorder(httpx.Response(202, json={"invocationId": "inv_1", "status": "Accepted"}))
    handle = make(recorder).service(Greeter).greet.send("Ada", delay=timedelta(seconds=1.5))
    assert str(recorder.requests[0].url) == "http://ingress.test:8080/Greeter/greet/send?delay=1500ms"
    assert (handle.invocation_id, handle.status) == ("inv_1", "Accepted")
    make(recorder).service(Greeter).greet.send("Ada", delay=2)
    assert recorder.requests[1].url.params["delay"] == "2000ms"
    with pytest.raises(ValueError, match="must not be negative"):
        make(recorder).service(Greeter).greet.send("Ada", delay=-1)


def test_workflow_paths():
    recorder = Recorder(httpx.Response(202, json={"invocationId": "inv_2", "status": "Accepted"}))
    run = make(recorder).workflow(Checkout, "order 1").run
    handle = run.submit({"customer": "c", "items": {}})
    recorder.response = httpx.Response(200, json="placed")
    assert handle.attach() == "placed"
    assert run.output() == "placed"
    paths = [r.url.raw_path for r in recorder.requests]
    assert paths == [
        b"/Checkout/order%201/run/send",
        b"/restate/workflow/Checkout/order%201/attach",
        b"/restate/workflow/Checkout/order%201/output",
    ]


def test_handler_error_versus_ingress_error():
    answer = {"code": 409, "message": "no stock", "source": "invocation"}
    recorder = Recorder(httpx.Response(409, json=answer, headers={"x-restate-id": "inv_9"}))
    with pytest.raises(HandlerError) as raised:
        make(recorder).service(Greeter).greet("a")
    assert (raised.value.status_code, raised.value.message, raised.value.invocation_id) == (409, "no stock", "inv_9")
    assert str(raised.value) == "Greeter/greet failed with 409: no stock"

    recorder.response = httpx.Response(404, json={"code": 404, "message": "service not found", "source": "ingress"})
    with pytest.raises(IngressError, match="service not found") as raised_ingress:
        make(recorder).service(Greeter).greet("a")
    assert not isinstance(raised_ingress.value, HandlerError)


def test_a_proxy_error_page_is_an_ingress_error():
    recorder = Recorder(httpx.Response(502, text="<html>Bad Gateway</html>"))
    with pytest.raises(IngressError) as raised:
        make(recorder).service(Greeter).greet("a")
    assert raised.value.status_code == 502
    assert "Bad Gateway" in raised.value.message


def test_read_timeout_is_not_reported_as_unreachable():
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(IngressTimeout, match="did not answer within 0.5s"):
        RestateClient("http://x", transport=httpx.MockTransport(slow)).service(Greeter).greet("a", timeout=0.5)


def test_output_that_no_longer_fits_the_annotation():
    recorder = Recorder(httpx.Response(200, json="not a number"))
    with pytest.raises(InvalidPayload, match=r"Cart.add_item returned a value that is not a int"):
        make(recorder).object(Cart, "k").add_item(CartItem(sku="a", quantity=1))


class ServedElsewhere(Service):
    """Not in any installed app: another deployment serves it, this project only calls it."""

    async def ping(self, ctx: restate.Context, n: int) -> int:
        return n


def test_classes_served_elsewhere_can_be_called():
    recorder = Recorder(httpx.Response(200, json=5))
    assert make(recorder).service(ServedElsewhere).ping(5) == 5
    assert recorder.requests[0].url.path == "/ServedElsewhere/ping"


def test_http_clients_are_reused():
    recorder = Recorder()
    ingress = make(recorder)
    ingress.service(Greeter).greet("a")
    first = ingress.http._sync
    ingress.service(Greeter).greet("b")
    assert ingress.http._sync is first

    async def twice():
        await ingress.service(Greeter).greet.acall("a")
        one = ingress.http._async_client()
        await ingress.service(Greeter).greet.acall("b")
        return one is ingress.http._async_client()

    assert asyncio.run(twice())
    # A new event loop (an async view under WSGI) gets its own client.
    assert len(ingress.http._async) <= 1


def test_unsafe_async_opt_out(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "1")
    recorder = Recorder()

    async def main():
        return make(recorder).service(Greeter).greet("a")

    assert asyncio.run(main()) == "ok"
