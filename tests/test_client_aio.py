"""The async client's own requests (aiohttp): what each failure becomes, with real sockets, and no
session left open when the loop ends."""

from __future__ import annotations

import asyncio
import gc
import socket
import threading
import warnings
from collections.abc import Callable, Iterator

import aiohttp
import httpx
import pytest

from django_restate import _http
from django_restate.client import RestateClient
from django_restate.client.aio import AiohttpClient, as_httpx_error
from django_restate.exceptions import IngressOutcomeUnknown, IngressTimeout, IngressUnreachable
from django_restate.testing.server import free_port
from tests.runtime_app.restate_services import RuntimeNotebook


def tcp_server(on_connection: Callable[[socket.socket], None]) -> Iterator[str]:
    """A raw TCP server on loopback, each connection handed to ``on_connection``; yields its URL."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            on_connection(conn)

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts connections, never answers: a server that took the request and hangs."""
    held: list[socket.socket] = []
    yield from tcp_server(held.append)
    for conn in held:
        conn.close()


@pytest.fixture
def closing_server() -> Iterator[str]:
    """Reads the request, then closes the connection without an answer."""

    def drop(conn: socket.socket) -> None:
        conn.recv(65536)
        conn.close()

    yield from tcp_server(drop)


def test_nothing_listening_is_unreachable():
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(IngressUnreachable, match="Cannot reach the Restate ingress"):
        asyncio.run(RestateClient(url).object(RuntimeNotebook, "k").count.acall())


def test_no_answer_in_time_is_a_timeout(silent_server):
    async def go() -> None:
        await RestateClient(silent_server, timeout=0.3).object(RuntimeNotebook, "k").count.acall()

    with pytest.raises(IngressTimeout):
        asyncio.run(go())


def test_a_dropped_connection_without_a_key_is_an_unknown_outcome(closing_server):
    async def go() -> None:
        await RestateClient(closing_server).object(RuntimeNotebook, "k").count.asend()

    with pytest.raises(IngressOutcomeUnknown):
        asyncio.run(go())


def test_the_session_is_closed_when_the_loop_ends():
    url = f"http://127.0.0.1:{free_port()}"
    opened: list[aiohttp.ClientSession] = []

    async def go() -> None:
        client = AiohttpClient(_http.target("INGRESS", url))
        opened.append(await client._open())
        with pytest.raises(httpx.ConnectError):
            await client.request("GET", url)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        asyncio.run(go())
        gc.collect()
    assert opened[0].closed
    assert not [w for w in caught if "Unclosed" in str(w.message)]


def test_a_finished_loop_is_not_kept_alive_by_its_client():
    import weakref

    url = f"http://127.0.0.1:{free_port()}"
    client = AiohttpClient(_http.target("INGRESS", url))
    loops: list[weakref.ref[asyncio.AbstractEventLoop]] = []

    async def go() -> None:
        loops.append(weakref.ref(asyncio.get_running_loop()))
        await client._open()

    asyncio.run(go())
    gc.collect()
    assert loops[0]() is None


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (aiohttp.ConnectionTimeoutError(), httpx.ConnectTimeout),
        (aiohttp.SocketTimeoutError(), httpx.ReadTimeout),
        (aiohttp.ServerDisconnectedError(), httpx.ReadError),
        (aiohttp.ClientPayloadError("cut"), httpx.ReadError),
        (aiohttp.InvalidURL("nope"), httpx.UnsupportedProtocol),
    ],
)
def test_aiohttp_errors_become_the_httpx_errors_that_mean_the_same(error, expected):
    assert type(as_httpx_error(error)) is expected
