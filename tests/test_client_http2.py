"""The async client talks HTTP/2 to the ingress (h2c on plain http), and falls back to HTTP/1.1
for good when the server in front of it does not speak it."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from django.test import override_settings

from django_restate import _http
from django_restate._http import H2cOrHttp11, http2_transport
from django_restate.testing.live import LiveASGIServer

pytestmark = pytest.mark.e2e


async def http11_only(scope, receive, send) -> None:
    """An ASGI app that answers with the HTTP version it was asked in (under uvicorn: 1.1 only)."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": scope["http_version"].encode()})


def test_the_ingress_is_spoken_to_over_h2c(restate_server):
    async def go() -> tuple[str, str | None]:
        transport = H2cOrHttp11()
        async with httpx.AsyncClient(transport=transport) as http:
            response = await http.get(restate_server.ingress_url + "/restate/health")
        return response.http_version, transport.protocol

    assert asyncio.run(go()) == ("HTTP/2", "h2")


def test_a_server_without_http2_gets_the_request_again_over_http11():
    with LiveASGIServer(http11_only, "uvicorn") as live:

        async def go() -> tuple[list[str], str | None]:
            transport = H2cOrHttp11()
            async with httpx.AsyncClient(transport=transport) as http:
                # Several at once, as a busy view sends them: each gets its answer.
                answers = await asyncio.gather(*(http.post(live.url + "/x", content=b"body") for _ in range(8)))
            return [a.text for a in answers], transport.protocol

        texts, protocol = asyncio.run(go())
    assert texts == ["1.1"] * 8
    assert protocol == "h1"


def test_after_h2c_worked_a_protocol_error_is_raised_not_retried():
    calls: list[str] = []

    class Broken(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            calls.append("h2")
            raise httpx.RemoteProtocolError("stream reset", request=request)

    class Fine(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            calls.append("h1")
            return httpx.Response(200)

    transport = H2cOrHttp11()
    transport.h2, transport.h1 = Broken(), Fine()
    transport.protocol = "h2"
    request = httpx.Request("POST", "http://ingress.invalid/Svc/h/send")
    with pytest.raises(httpx.RemoteProtocolError):
        asyncio.run(transport.handle_async_request(request))
    assert calls == ["h2"]


def test_https_negotiates_and_the_setting_turns_it_off(restate_server):
    assert isinstance(http2_transport("https://ingress.example"), httpx.AsyncHTTPTransport)

    async def transport_of_shared_client() -> object:
        return _http.shared_async_client("INGRESS")._transport

    restate = {"INGRESS_URL": restate_server.ingress_url}
    with override_settings(RESTATE=restate):
        assert isinstance(asyncio.run(transport_of_shared_client()), H2cOrHttp11)
    with override_settings(RESTATE={**restate, "INGRESS_HTTP2": False}):
        assert not isinstance(asyncio.run(transport_of_shared_client()), H2cOrHttp11)
