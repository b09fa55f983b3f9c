"""The async client's requests to the ingress, sent with aiohttp.

``await client...asend()`` / ``acall()`` / ``aattach()`` are what a busy async view, the outbox
relay and the Tasks backend make many of at once, so their cost per request is the client's cost.
Measured on this project's machine against restate-server's ingress, 16 requests in flight, CPU of
the calling process per request: httpx over HTTP/1.1 about 1,100 µs (its pool checks every idle
connection on every request), httpx over h2c about 700 µs, aiohttp about 90 µs. In
``bench/workflow_bench.py``'s profile the view's one ``asend()`` was a third of the endpoint
process's time. So the ingress's async requests go through aiohttp; everything around them stays
as it is: :class:`AiohttpClient` answers ``httpx.Response`` and raises httpx's transport errors,
which is what :class:`~django_restate.client.http.HttpTransport` maps to our exceptions.

An aiohttp session belongs to one event loop: there is one per loop, closed when the loop shuts
down its async generators (as ``asyncio.run`` and the ASGI servers do).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import httpx

from .. import _http

_NO_GUESSED_TYPE = frozenset({"Content-Type"})


class AiohttpClient:
    """The part of ``httpx.AsyncClient`` that :meth:`HttpTransport.arequest
    <django_restate.client.http.HttpTransport.arequest>` uses (``request()`` and ``timeout``),
    for one event loop."""

    def __init__(self, where: _http.Target) -> None:
        self.timeout = httpx.Timeout(where.timeout)
        self._session: aiohttp.ClientSession | None = None
        self._closer: AsyncIterator[None] | None = None

    async def request(
        self,
        method: str,
        url: str,
        *,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: Any = httpx.USE_CLIENT_DEFAULT,
    ) -> httpx.Response:
        seconds = self.timeout.read if timeout is httpx.USE_CLIENT_DEFAULT else timeout
        session = await self._open()
        try:
            async with session.request(
                method,
                url,
                data=content or None,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=seconds),
                skip_auto_headers=_NO_GUESSED_TYPE,  # the ingress refuses a content type on an empty body
            ) as answer:
                body = await answer.read()
                raw_headers = answer.raw_headers
                status = answer.status
        except aiohttp.ClientError as exc:
            raise as_httpx_error(exc) from exc
        except TimeoutError as exc:  # the server took the request and did not answer in time
            raise httpx.ReadTimeout(f"no answer within {seconds} s") from exc
        return httpx.Response(status, headers=list(raw_headers), content=body)

    async def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=0, ssl=_http.tls_context())
            self._session = aiohttp.ClientSession(connector=connector, auto_decompress=False)
            # An async generator the loop finalizes at shutdown (asyncio.run does it): it closes the
            # session, so nothing is left open when the loop goes.
            self._closer = self._closing()
            await anext(self._closer)
        return self._session

    async def _closing(self) -> AsyncIterator[None]:
        try:
            yield
        finally:
            # Closed and let go: the session refers to its loop, and so does this generator (the
            # loop's finalizer hook); this client is kept per loop in a WeakKeyDictionary, which
            # could otherwise never drop the finished loop.
            session, self._session, self._closer = self._session, None, None
            if session is not None:
                await session.close()


def as_httpx_error(exc: aiohttp.ClientError) -> httpx.TransportError:
    """The httpx transport error meaning the same: :mod:`django_restate._http` tells them apart
    (nothing sent, timed out, dropped) to decide what may be sent again."""
    message = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(message)
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return httpx.ReadTimeout(message)
    if isinstance(exc, aiohttp.ClientConnectorError):  # refused, DNS, TLS: the request never left
        return httpx.ConnectError(message)
    if isinstance(exc, aiohttp.InvalidURL):
        return httpx.UnsupportedProtocol(message)
    return httpx.ReadError(message)  # dropped after it was sent: the outcome is unknown
