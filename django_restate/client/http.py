"""The transport of production code: HTTP to the Restate ingress, with its answers mapped to typed errors."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import re
import threading
import time
import weakref
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import httpx

from .. import _http, tracing
from ..backpressure import UNCOUNTED, backpressure
from ..conf import restate_settings
from ..exceptions import (
    HandlerError,
    IngressError,
    IngressOutcomeUnknown,
    IngressTimeout,
    IngressUnreachable,
    InvocationNotReady,
    RestateClientError,
)
from ..reflect import HandlerSpec
from .aio import AiohttpClient
from .transport import Accepted, Address, Recorded, Request, on_commit_key

#: Ingress status for "the invocation exists but has not completed yet".
NOT_READY = 470
#: Pauses before sending a request again whose connection failed: long enough together to ride
#: out a Restate node's failover behind a load balancer (about a second), short enough for a view.
FAILOVER_RETRY_DELAYS = (0.1, 0.25, 0.5, 1.0, 2.0)


class HttpTransport:
    """Talks to the Restate ingress.

    ``url``, ``headers`` and ``timeout`` default to ``RESTATE["INGRESS_URL"]``,
    ``RESTATE["INGRESS_HEADERS"]`` and ``RESTATE["TIMEOUT"]``, read at each request,
    so ``override_settings`` takes effect at once. ``transport`` /
    ``async_transport`` are httpx's (``httpx.MockTransport``, unix sockets, proxies).
    The HTTP clients are the ones :mod:`django_restate._http` shares per settings (one
    ``httpx.Client``, one ``httpx.AsyncClient`` per event loop), or this transport's own
    when it has an httpx transport of its own.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._url = url.rstrip("/") if url else None
        self._headers = dict(headers or {})
        self._timeout = timeout
        self._transport = transport
        self._async_transport = async_transport
        self._sync: httpx.Client | None = None
        self._cached_basics: tuple[dict[str, Any], tuple[_http.Target, dict[str, str], dict[str, str]]] | None = None
        self._lock = threading.Lock()
        # An AsyncClient's connections belong to the loop that opened them; Django runs
        # async views of a WSGI project in a new loop per request.
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
            weakref.WeakKeyDictionary()
        )

    # -- the Transport protocol -----------------------------------------------------------

    def call(self, request: Request) -> bytes:
        path = _handler_path(request)
        return self.request(
            "POST", path, request.target, content=request.body, headers=_headers(request), timeout=request.timeout
        ).content

    async def acall(self, request: Request) -> bytes:
        path = _handler_path(request)
        response = await self.arequest(
            "POST", path, request.target, content=request.body, headers=_headers(request), timeout=request.timeout
        )
        return response.content

    def send(self, request: Request) -> Accepted:
        path = _send_path(request)
        with backpressure.wait_turn() if request.delay is None else UNCOUNTED as turn:
            response = self.request("POST", path, request.target, content=request.body, headers=_headers(request))
            accepted = _accepted(response)
            turn.sent(*accepted)
        return accepted

    async def asend(self, request: Request) -> Accepted:
        path = _send_path(request)
        with await backpressure.await_turn() if request.delay is None else UNCOUNTED as turn:
            headers = _headers(request)
            response = await self.arequest("POST", path, request.target, content=request.body, headers=headers)
            accepted = _accepted(response)
            turn.sent(*accepted)
        return accepted

    def attach(self, address: Address, timeout: float | None = None) -> bytes:
        return self.request("GET", _address_path(address) + "/attach", address.target, timeout=timeout).content

    async def aattach(self, address: Address, timeout: float | None = None) -> bytes:
        path = _address_path(address) + "/attach"
        return (await self.arequest("GET", path, address.target, timeout=timeout)).content

    def output(self, address: Address) -> bytes:
        return self.request("GET", _address_path(address) + "/output", address.target).content

    async def aoutput(self, address: Address) -> bytes:
        return (await self.arequest("GET", _address_path(address) + "/output", address.target)).content

    def send_on_commit(self, request: Request, using: str | None) -> Recorded:
        """Written to the transactional outbox in the caller's transaction: sent right after the
        commit, or by a relay if Restate cannot be reached then (:mod:`django_restate.outbox`),
        with the trace context of the span current now (:func:`django_restate.tracing.inject`)."""
        from ..outbox import Send, record

        send = Send(
            service=request.service.name,
            handler=request.handler.name,
            key=request.key,
            body=request.body,
            # The trace context of the caller's span is stored with the row: a relay that delivers it
            # later, outside any span, continues the same trace.
            headers=dict(tracing.inject(request.headers) or {}),
            idempotency_key=on_commit_key(request, using),
            delay=None if request.delay is None else timedelta(seconds=request.delay),
        )
        return record(send, using=using, request_key=request.idempotency_key)

    # -- HTTP -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The ingress URL, as it may be printed (credentials redacted)."""
        return self._basics()[0].safe_url

    def _prepare(
        self, content: bytes | None, extra: Mapping[str, str] | None, timeout: float | None
    ) -> tuple[_http.Target, dict[str, str], float]:
        """Where to send one request, its headers and its timeout."""
        where, plain, json_headers = self._basics()
        headers = json_headers if content else plain
        if extra:
            headers = {**headers, **extra}
        return where, headers, where.timeout if timeout is None else timeout

    def _basics(self) -> tuple[_http.Target, dict[str, str], dict[str, str]]:
        """The ingress target and its headers (without and with a JSON body), worked out once per
        settings (``override_settings`` of ``RESTATE`` builds new settings, so they are worked out again)."""
        conf = restate_settings.as_dict()
        cached = self._cached_basics
        if cached is None or cached[0] is not conf:
            where = _http.target("INGRESS", self._url, self._headers, self._timeout)
            headers = dict(where.headers)
            cached = self._cached_basics = (conf, (where, headers, {**headers, "content-type": "application/json"}))
        return cached[1]

    def _sync_client(self) -> httpx.Client:
        if self._transport is None:
            return _http.shared_client("INGRESS")
        if self._sync is None:
            with self._lock:
                if self._sync is None:
                    self._sync = httpx.Client(transport=self._transport, timeout=self._basics()[0].timeout)
        return self._sync

    def _async_client(self) -> httpx.AsyncClient | AiohttpClient:
        if self._async_transport is None:
            return _http.shared_async_client("INGRESS", AiohttpClient)
        loop = asyncio.get_running_loop()
        http = self._async.get(loop)
        if http is None:
            timeout = self._basics()[0].timeout
            http = self._async[loop] = httpx.AsyncClient(transport=self._async_transport, timeout=timeout)
        return http

    def request(
        self,
        method: str,
        path: str,
        target: str,
        *,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        failover: bool = True,
    ) -> httpx.Response:
        """One request to the ingress; error statuses and transport failures become typed errors.

        ``failover=False`` fails at once on a connection failure instead of sending again
        (:data:`FAILOVER_RETRY_DELAYS`): for callers with a retry schedule of their own, such as
        the outbox, which must not hold a committing view or a relay round for seconds.
        """
        where, all_headers, seconds = self._prepare(content, headers, timeout)
        http = self._sync_client()
        for attempt in itertools.count():
            try:
                response = http.request(
                    method, where.url + path, content=content, headers=all_headers, timeout=_timeout_arg(http, seconds)
                )
            except httpx.TransportError as exc:
                pause = _retry_after(exc, method, all_headers, attempt if failover else None, where, seconds, target)
                time.sleep(pause)
                continue
            pause_for = _gateway_retry(response, method, all_headers, attempt if failover else None)
            if pause_for is None:
                break
            time.sleep(pause_for)
        if response.status_code >= 400:
            raise _error_from(response, target)
        return response

    async def arequest(
        self,
        method: str,
        path: str,
        target: str,
        *,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        failover: bool = True,
    ) -> httpx.Response:
        where, all_headers, seconds = self._prepare(content, headers, timeout)
        http = self._async_client()
        for attempt in itertools.count():
            try:
                response = await http.request(
                    method, where.url + path, content=content, headers=all_headers, timeout=_timeout_arg(http, seconds)
                )
            except httpx.TransportError as exc:
                await asyncio.sleep(
                    _retry_after(exc, method, all_headers, attempt if failover else None, where, seconds, target)
                )
                continue
            pause_for = _gateway_retry(response, method, all_headers, attempt if failover else None)
            if pause_for is None:
                break
            await asyncio.sleep(pause_for)
        if response.status_code >= 400:
            raise _error_from(response, target)
        return response

    def close(self) -> None:
        if self._sync is not None:
            self._sync.close()
            self._sync = None

    async def aclose(self) -> None:
        """Close this loop's async HTTP client (and the sync one)."""
        http = self._async.pop(asyncio.get_running_loop(), None)
        if http is not None:
            await http.aclose()
        self.close()

    def __repr__(self) -> str:
        return f"<HttpTransport {self.url}>"


# -- paths ------------------------------------------------------------------------------------

#: The URL-quoted service and handler names of a handler, keyed by id() and checked by identity
#: (specs are rebuilt when tests re-register).
_quoted: dict[int, tuple[HandlerSpec, str, str]] = {}

#: Keys made only of characters a URL path segment keeps as they are need no quoting (most do not).
_plain = re.compile(r"[A-Za-z0-9_.~-]+").fullmatch


def milliseconds(delay: timedelta) -> int:
    """A delay as the ingress's ``?delay=...ms`` wants it."""
    return round(delay.total_seconds() * 1000)


def quote_segment(segment: str) -> str:
    """One path segment holding exactly ``segment`` (``.`` and ``..`` too: see :func:`_http.path_segment`)."""
    return segment if _plain(segment) and segment not in (".", "..") else _http.path_segment(segment)


def _names(service_name: str, handler: HandlerSpec) -> tuple[HandlerSpec, str, str]:
    cached = _quoted.get(id(handler))
    if cached is None or cached[0] is not handler:
        cached = _quoted[id(handler)] = (handler, quote_segment(service_name), quote_segment(handler.name))
    return cached


def _handler_path(request: Request) -> str:
    _, service, handler = _names(request.service.name, request.handler)
    if request.key is None:
        return f"/{service}/{handler}"
    return f"/{service}/{quote_segment(request.key)}/{handler}"


def _send_path(request: Request) -> str:
    return _sending(_handler_path(request), None if request.delay is None else timedelta(seconds=request.delay))


def send_path(service: str, key: str | None, handler: str, delay: timedelta | None = None) -> str:
    """The ingress path of a send, from the names (the outbox's rows hold names, not specs)."""
    parts = (service, handler) if key is None else (service, key, handler)
    return _sending("/" + "/".join(quote_segment(part) for part in parts), delay)


def _sending(handler_path: str, delay: timedelta | None) -> str:
    if delay is None:
        return handler_path + "/send"
    return f"{handler_path}/send?delay={milliseconds(delay)}ms"


def _address_path(address: Address) -> str:
    if address.invocation_id is not None:
        return f"/restate/invocation/{quote_segment(address.invocation_id)}"
    service, handler = address.service, address.handler
    assert service is not None and handler is not None, "an Address names an invocation id or a handler"
    if address.idempotency_key is not None:
        _, quoted_service, quoted_handler = _names(service.name, handler)
        key = "" if address.key is None else "/" + quote_segment(address.key)
        return f"/restate/invocation/{quoted_service}{key}/{quoted_handler}/{quote_segment(address.idempotency_key)}"
    assert address.key is not None
    return f"/restate/workflow/{quote_segment(service.name)}/{quote_segment(address.key)}"


def _headers(request: Request) -> Mapping[str, str] | None:
    """A call's or send's headers: the caller's, the idempotency key, and the current trace context."""
    return with_idempotency_key(tracing.inject(request.headers), request.idempotency_key)


def with_idempotency_key(headers: Mapping[str, str] | None, idempotency_key: str | None) -> Mapping[str, str] | None:
    """A request's headers with its idempotency key (the ingress reads it from ``idempotency-key``)."""
    if idempotency_key is None:
        return headers
    return {**(headers or {}), "idempotency-key": idempotency_key}


def accepted(response: httpx.Response) -> Accepted:
    """The ingress's answer to a send."""
    return _accepted(response)


def _accepted(response: httpx.Response) -> Accepted:
    answer = response.json()
    return Accepted(answer["invocationId"], answer.get("status"))


# -- errors -----------------------------------------------------------------------------------


def _timeout_arg(http: httpx.Client | httpx.AsyncClient | AiohttpClient, seconds: float) -> Any:
    """The HTTP client's own timeout when it is the one wanted: httpx builds a new one per request otherwise."""
    return httpx.USE_CLIENT_DEFAULT if http.timeout.read == seconds else seconds


def _retry_after(
    exc: httpx.TransportError,
    method: str,
    headers: Mapping[str, str],
    attempt: int | None,
    where: _http.Target,
    timeout: float,
    target: str,
) -> float:
    """How long to wait before sending a request again whose connection failed; raises when it must not be.

    A node that died (or a balancer that has not noticed yet) fails the connection. Sending again
    is safe when nothing was sent (the connection was never made), when the request only reads
    (attach, output), or when it carries an idempotency key (Restate runs it at most once).
    Otherwise the outcome is unknown and the caller is told so. A timeout is not retried: the
    server took the request and is working on it. ``attempt`` None: the caller retries itself.
    """
    never_sent = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))
    safe = never_sent or _resend_is_safe(method, headers)
    if attempt is None or _http.is_timeout(exc) or attempt >= len(FAILOVER_RETRY_DELAYS):
        raise _transport_error(where, exc, timeout) from None
    if not safe:
        raise IngressOutcomeUnknown(where.safe_url, _http.failure_reason(exc), target) from None
    return FAILOVER_RETRY_DELAYS[attempt]


def _gateway_retry(
    response: httpx.Response, method: str, headers: Mapping[str, str], attempt: int | None
) -> float | None:
    """How long to wait before sending again a request that a proxy in front of the ingress answered
    for a node that failed under it; None when the answer stands.

    A load balancer answers 503 when it had no live node to send the request to (nothing was sent:
    always safe to send again) and 502 when the node it chose broke the connection mid-request
    (the same as a broken connection: safe for a read or with an idempotency key). Restate's own
    answers (JSON) stand, and so does a 504: the node took the request and did not answer in time.
    """
    status = response.status_code
    if status not in (502, 503) or attempt is None or attempt >= len(FAILOVER_RETRY_DELAYS):
        return None
    if _restate_payload(response) is not None:
        return None  # Restate's own answer
    if status == 502 and not _resend_is_safe(method, headers):
        return None
    return FAILOVER_RETRY_DELAYS[attempt]


def _resend_is_safe(method: str, headers: Mapping[str, str]) -> bool:
    """Whether a request that may have reached Restate can be sent again without running a handler
    twice: a read (attach, output), or a call or send with an idempotency key."""
    return method == "GET" or "idempotency-key" in headers


def _transport_error(where: _http.Target, exc: httpx.TransportError, timeout: float) -> RestateClientError:
    if timeout != where.timeout:  # this request's own timeout is the one it waited for
        where = dataclasses.replace(where, timeout=timeout)
    return _http.transport_error(exc, where, unreachable=IngressUnreachable, timed_out=IngressTimeout)


def _restate_payload(response: httpx.Response) -> dict[str, Any] | None:
    """The JSON object Restate's ingress answers an error with; None for anything else (a proxy's page)."""
    try:
        payload = response.json()
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


def _error_from(response: httpx.Response, target: str) -> RestateClientError:
    status = response.status_code
    payload = _restate_payload(response)
    if payload is None:
        # Not Restate's JSON: a proxy or load balancer in front of the ingress answered.
        text = response.text.strip()[:200] or response.reason_phrase
        return IngressError(status, text, target)
    code = int(payload.get("code") or status)
    message = str(payload.get("message") or response.reason_phrase)
    invocation_id = response.headers.get("x-restate-id")
    source = payload.get("source") or response.headers.get("x-restate-error-source")
    if source == "invocation":
        return HandlerError(code, message, target, invocation_id)
    if status == NOT_READY:
        return InvocationNotReady(code, message, target, invocation_id)
    return IngressError(code, message, target, invocation_id)
