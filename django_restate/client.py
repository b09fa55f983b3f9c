"""Call and send to handlers from Django code, addressed through the handler classes.

::

    from django_restate.client import client

    total = client.object(Cart, "alice").add_item(CartItem(sku="tea", quantity=2))   # wait for the result
    total = await client.object(Cart, "alice").add_item.acall(item)                  # the async twin
    handle = client.service(Greeter).greet.send("Ada", delay=timedelta(minutes=5))   # fire and forget
    client.object(Cart, "alice").add_item.send_on_commit(item, idempotency_key=key)  # after COMMIT

Handler names and their input and output types come from the registry (the
same :class:`~django_restate.reflect.HandlerSpec` the endpoint serves), so a
typo is an ``AttributeError`` and inputs and outputs are encoded with the same
:class:`~django_restate.serde.TypedJsonSerde` as on the server: a pydantic model
sent is a pydantic model received, and the result comes back typed.

Every blocking method has an async twin prefixed with ``a`` (``call`` /
``acall``, ``send`` / ``asend``, ``attach`` / ``aattach``), like Django's ORM
and django-tasks' ``enqueue`` / ``aenqueue``. The HTTP clients are created once
and reused: one ``httpx.Client`` per :class:`RestateClient`, one
``httpx.AsyncClient`` per event loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
import pydantic
from django.core.exceptions import SynchronousOnlyOperation

from .conf import restate_settings
from .exceptions import (
    HandlerError,
    IngressError,
    IngressTimeout,
    IngressUnreachable,
    InvalidPayload,
    InvocationNotReady,
    RestateClientError,
    SendOnCommitFailed,
)
from .handlers import RestateService
from .reflect import HandlerSpec, ServiceSpec, reflect
from .registry import NotRegistered, registry
from .serde import TypedJsonSerde, describe

if TYPE_CHECKING:
    from .outbox import Pending

logger = logging.getLogger("django_restate.client")

#: Ingress status for "the invocation exists but has not completed yet".
NOT_READY = 470

Delay = timedelta | float | int


class _Missing:
    def __repr__(self) -> str:
        return "<no input>"


#: Default of the ``arg`` parameter: tells "no input given" from an explicit ``None``.
MISSING: Any = _Missing()


# -- the client -------------------------------------------------------------------------------


class RestateClient:
    """Talks to the Restate ingress.

    ``url``, ``headers`` and ``timeout`` default to ``RESTATE["INGRESS_URL"]``,
    ``RESTATE["INGRESS_HEADERS"]`` and ``RESTATE["TIMEOUT"]``, read at each request,
    so ``override_settings`` takes effect at once. ``transport`` /
    ``async_transport`` are for tests and custom networking (``httpx.MockTransport``,
    unix sockets, proxies).
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
        self._cached_basics: tuple[dict[str, Any], tuple[str, dict[str, str], dict[str, str], float]] | None = None
        self._lock = threading.Lock()
        # An AsyncClient's connections belong to the loop that opened them; Django runs
        # async views of a WSGI project in a new loop per request.
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
            weakref.WeakKeyDictionary()
        )

    # -- addressing handlers --------------------------------------------------------------

    def service(self, cls: type[RestateService]) -> ServiceProxy:
        """The handlers of a Service: ``client.service(Greeter).greet("Ada")``."""
        return ServiceProxy(self, _spec(cls, "service"), None)

    def object(self, cls: type[RestateService], key: str) -> ServiceProxy:
        """The handlers of one Virtual Object: ``client.object(Cart, "alice").add_item(item)``."""
        return ServiceProxy(self, _spec(cls, "object"), _key(cls, key, "key"))

    def workflow(self, cls: type[RestateService], workflow_id: str) -> ServiceProxy:
        """One workflow: ``.run.submit(...)`` starts it, ``.run.attach()`` waits for its result,
        shared handlers are called like any other (``.status()``)."""
        return ServiceProxy(self, _spec(cls, "workflow"), _key(cls, workflow_id, "workflow id"))

    def invocation(self, invocation_id: str) -> InvocationHandle:
        """An invocation by id (``inv_...``), to ``attach()`` or read its ``output()``.

        Its output is decoded as plain JSON; ``ref.invocation(...)`` on a handler
        reference decodes it with the handler's output type.
        """
        return InvocationHandle(self, invocation_id, None, None, invocation_id)

    # -- transport ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self._basics()[0]

    def _prepare(
        self, content: bytes | None, extra: Mapping[str, str] | None, timeout: float | None
    ) -> tuple[str, dict[str, str], float]:
        """The base URL, headers and timeout of one request."""
        url, plain, json_headers, default_timeout = self._basics()
        headers = json_headers if content else plain
        if extra:
            headers = {**headers, **extra}
        return url, headers, default_timeout if timeout is None else timeout

    def _basics(self) -> tuple[str, dict[str, str], dict[str, str], float]:
        """URL, headers (without and with a JSON body) and timeout, worked out once per settings
        (``override_settings`` of ``RESTATE`` builds new settings, so they are worked out again)."""
        conf = restate_settings.as_dict()
        cached = self._cached_basics
        if cached is None or cached[0] is not conf:
            url = self._url or str(conf["INGRESS_URL"]).rstrip("/")
            headers = {**conf["INGRESS_HEADERS"], **self._headers}
            timeout = float(self._timeout if self._timeout is not None else conf["TIMEOUT"])
            json_headers = {**headers, "content-type": "application/json"}
            cached = self._cached_basics = (conf, (url, headers, json_headers, timeout))
        return cached[1]

    def _sync_client(self) -> httpx.Client:
        if self._sync is None:
            with self._lock:
                if self._sync is None:
                    self._sync = httpx.Client(transport=self._transport, timeout=self._basics()[3])
        return self._sync

    def _async_client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        http = self._async.get(loop)
        if http is None:
            http = self._async[loop] = httpx.AsyncClient(transport=self._async_transport, timeout=self._basics()[3])
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
    ) -> httpx.Response:
        """One request to the ingress; error statuses and transport failures become typed errors."""
        url, all_headers, seconds = self._prepare(content, headers, timeout)
        http = self._sync_client()
        try:
            response = http.request(
                method, url + path, content=content, headers=all_headers, timeout=_timeout_arg(http, seconds)
            )
        except httpx.TransportError as exc:
            raise _transport_error(url, exc, seconds) from None
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
    ) -> httpx.Response:
        url, all_headers, seconds = self._prepare(content, headers, timeout)
        http = self._async_client()
        try:
            response = await http.request(
                method, url + path, content=content, headers=all_headers, timeout=_timeout_arg(http, seconds)
            )
        except httpx.TransportError as exc:
            raise _transport_error(url, exc, seconds) from None
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

    def __enter__(self) -> RestateClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    async def __aenter__(self) -> RestateClient:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()


#: The project's client, configured by the ``RESTATE`` setting.
client = RestateClient()


# -- handler references -----------------------------------------------------------------------


class ServiceProxy:
    """The handlers of one service, object (``key``) or workflow (``key`` = workflow id), as attributes."""

    # A proxy and a handler reference are built for every call: slots keep that cheap.
    __slots__ = ("_client", "_spec", "_key")

    def __init__(self, restate: RestateClient, spec: ServiceSpec, key: str | None) -> None:
        self._client = restate
        self._spec = spec
        self._key = key

    def __getattr__(self, attr: str) -> HandlerRef:
        handler = _handlers_of(self._spec).get(attr)
        if handler is None:
            if attr.startswith("_"):
                raise AttributeError(attr)
            names = ", ".join(h.attr for h in self._spec.handlers)
            raise AttributeError(f"{self._spec.name} has no handler {attr!r} (its handlers: {names}).")
        kind = WorkflowRunRef if handler.kind == "workflow" else HandlerRef
        return kind(self._client, self._spec, handler, self._key)

    def __dir__(self) -> list[str]:
        return [h.attr for h in self._spec.handlers]

    def __repr__(self) -> str:
        where = f" {self._key!r}" if self._key is not None else ""
        return f"<{self._spec.sdk_type} {self._spec.name}{where} at {self._client.url}>"


class HandlerRef:
    """One handler of one service, object or workflow. Calling it waits for the result."""

    __slots__ = ("client", "service", "handler", "key", "codec", "path", "target")

    def __init__(self, restate: RestateClient, service: ServiceSpec, handler: HandlerSpec, key: str | None) -> None:
        self.client = restate
        self.service = service
        self.handler = handler
        self.key = key
        self.codec, quoted_service, quoted_handler = _static(service, handler)
        #: ``Service/handler`` or ``Object/key/handler``, as error messages name it.
        self.target = service.target(key, handler)
        if key is None:
            self.path = f"/{quoted_service}/{quoted_handler}"
        else:
            self.path = f"/{quoted_service}/{_quote(key)}/{quoted_handler}"

    def __repr__(self) -> str:
        return f"<HandlerRef {self.target}>"

    # -- call: wait for the result --------------------------------------------------------

    def __call__(
        self,
        arg: Any = MISSING,
        *,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Same as :meth:`call`."""
        return self.call(arg, idempotency_key=idempotency_key, headers=headers, timeout=timeout)

    def call(
        self,
        arg: Any = MISSING,
        *,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Invoke the handler and wait for its result, decoded with its return annotation.

        With an ``idempotency_key``, calling again with the same key (within the
        service's idempotency retention, 24 hours by default) does not run the
        handler again: it returns the first call's result.
        """
        _forbid_running_loop("call", self.target, "acall")
        body = self.codec.encode(arg)
        response = self.client.request(
            "POST",
            self.path,
            self.target,
            content=body,
            headers=self._headers(idempotency_key, headers),
            timeout=timeout,
        )
        return self.codec.decode(response.content)

    async def acall(
        self,
        arg: Any = MISSING,
        *,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """The async twin of :meth:`call`."""
        body = self.codec.encode(arg)
        response = await self.client.arequest(
            "POST",
            self.path,
            self.target,
            content=body,
            headers=self._headers(idempotency_key, headers),
            timeout=timeout,
        )
        return self.codec.decode(response.content)

    # -- send: fire and forget ------------------------------------------------------------

    def send(
        self,
        arg: Any = MISSING,
        *,
        delay: Delay | None = None,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> InvocationHandle:
        """Start the handler without waiting for it; returns once Restate has accepted the invocation.

        ``delay`` (a ``timedelta`` or seconds) schedules it for later. With an
        ``idempotency_key``, sending again with the same key returns the first
        invocation (``handle.status == "PreviouslyAccepted"``) instead of starting another.
        """
        _forbid_running_loop("send", self.target, "asend")
        body = self.codec.encode(arg)
        response = self.client.request(
            "POST",
            self._send_path(delay),
            self.target,
            content=body,
            headers=self._headers(idempotency_key, headers),
        )
        return self._handle(response)

    async def asend(
        self,
        arg: Any = MISSING,
        *,
        delay: Delay | None = None,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> InvocationHandle:
        """The async twin of :meth:`send`."""
        body = self.codec.encode(arg)
        response = await self.client.arequest(
            "POST",
            self._send_path(delay),
            self.target,
            content=body,
            headers=self._headers(idempotency_key, headers),
        )
        return self._handle(response)

    def send_on_commit(
        self,
        arg: Any = MISSING,
        *,
        using: str | None = None,
        idempotency_key: str | None = None,
        delay: Delay | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> PendingSend:
        """Send when the current transaction on ``using`` commits; send nothing if it rolls back.

        The send is written to the transactional outbox (:mod:`django_restate.outbox`) in
        the transaction itself, so it commits or rolls back with your data. Right after the
        commit it is sent; if Restate cannot be reached then, or the process dies first,
        a relay sends it later with the same idempotency key. The view sees no failure.

        The input is encoded now: one that cannot be is refused with
        :class:`~django_restate.exceptions.SendOnCommitFailed` before anything commits.
        ``idempotency_key`` should identify the *request* the user made (for
        example its ``Idempotency-Key`` header): a retried request that sends
        again with the same key does not start the work a second time. The
        n-th send to this same handler (and key) with the same idempotency key
        in one transaction is sent with ``"<key>#<n>"``, so a view that sends
        twice still sends twice, and its retry still sends nothing new. Without
        an ``idempotency_key``, a random one makes the outbox's own retries safe.
        Outside a transaction it is recorded and sent at once.
        """
        from .outbox import Send, derive_key, record

        _forbid_running_loop(
            "send_on_commit",
            self.target,
            hint="Run the transaction and send_on_commit() in a sync function wrapped in sync_to_async().",
        )
        try:
            body = self.codec.encode(arg)
        except InvalidPayload as exc:
            raise SendOnCommitFailed(str(exc)) from None
        if self.handler.kind == "workflow":
            _no_idempotency_key_for_workflow(self, idempotency_key)
            sent_key = None  # the workflow id is the key
        else:
            sent_key = derive_key(self.target, idempotency_key, using)
        request = Send(
            service=self.service.name,
            handler=self.handler.name,
            key=self.key,
            body=body,
            headers=dict(headers or {}),
            idempotency_key=sent_key,
            delay=None if delay is None else timedelta(milliseconds=_milliseconds(delay)),
        )
        return PendingSend(self, record(request, using=using, request_key=idempotency_key))

    # -- existing invocations -------------------------------------------------------------

    def invocation(self, *, idempotency_key: str) -> InvocationHandle:
        """The invocation of this handler started with ``idempotency_key``, to attach to or read."""
        path = f"/restate/invocation{self.path}/{quote(idempotency_key, safe='')}"
        return InvocationHandle(self.client, None, None, self.codec, self.target, path)

    # -- helpers --------------------------------------------------------------------------

    def _headers(self, idempotency_key: str | None, headers: Mapping[str, str] | None) -> dict[str, str] | None:
        if idempotency_key is None:
            return dict(headers) if headers else None
        return {**(headers or {}), "idempotency-key": idempotency_key}

    def _send_path(self, delay: Delay | None) -> str:
        if delay is None:
            return self.path + "/send"
        return f"{self.path}/send?delay={_milliseconds(delay)}ms"

    def _handle(self, response: httpx.Response) -> InvocationHandle:
        accepted = response.json()
        return InvocationHandle(self.client, accepted["invocationId"], accepted.get("status"), self.codec, self.target)


class WorkflowRunRef(HandlerRef):
    """The main handler of a workflow: it runs once per workflow id.

    ``submit()`` starts it (sending again with the same id returns the first run),
    ``attach()`` waits for its result and ``output()`` reads it if it has finished,
    from anywhere that knows the workflow id.
    """

    __slots__ = ()

    def send(
        self,
        arg: Any = MISSING,
        *,
        delay: Delay | None = None,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> InvocationHandle:
        """Start the workflow (same as :meth:`submit`)."""
        _no_idempotency_key_for_workflow(self, idempotency_key)
        return self._by_workflow(super().send(arg, delay=delay, headers=headers))

    async def asend(
        self,
        arg: Any = MISSING,
        *,
        delay: Delay | None = None,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> InvocationHandle:
        _no_idempotency_key_for_workflow(self, idempotency_key)
        return self._by_workflow(await super().asend(arg, delay=delay, headers=headers))

    #: Restate's word for starting a workflow.
    submit = send
    asubmit = asend

    def attach(self, *, timeout: float | None = None) -> Any:
        """Wait for the workflow's result."""
        return self._workflow_handle().attach(timeout=timeout)

    async def aattach(self, *, timeout: float | None = None) -> Any:
        return await self._workflow_handle().aattach(timeout=timeout)

    def output(self) -> Any:
        """The workflow's result; :class:`~django_restate.exceptions.InvocationNotReady` while it runs."""
        return self._workflow_handle().output()

    async def aoutput(self) -> Any:
        return await self._workflow_handle().aoutput()

    def _workflow_handle(self, invocation_id: str | None = None, status: str | None = None) -> InvocationHandle:
        assert self.key is not None
        path = f"/restate/workflow/{quote(self.service.name, safe='')}/{quote(self.key, safe='')}"
        return InvocationHandle(self.client, invocation_id, status, self.codec, self.target, path)

    def _by_workflow(self, handle: InvocationHandle) -> InvocationHandle:
        return self._workflow_handle(handle.invocation_id, handle.status)


@dataclass(frozen=True, slots=True)
class InvocationHandle:
    """An invocation that was sent (or looked up): attach to it, or read its output."""

    client: RestateClient = field(repr=False)
    invocation_id: str | None
    #: ``"Accepted"``, or ``"PreviouslyAccepted"`` when an idempotency key / workflow id matched.
    status: str | None
    codec: Codec | None = field(repr=False)
    target: str
    #: Where it is addressed on the ingress when not by its id (a workflow id, an idempotency key).
    address: str | None = field(default=None, repr=False)

    @property
    def path(self) -> str:
        if self.address is not None:
            return self.address
        assert self.invocation_id is not None
        return f"/restate/invocation/{quote(self.invocation_id, safe='')}"

    def attach(self, *, timeout: float | None = None) -> Any:
        """Wait for the invocation to finish and return its result (or raise its ``HandlerError``)."""
        _forbid_running_loop("attach", self.target, "aattach")
        response = self.client.request("GET", self.path + "/attach", self.target, timeout=timeout)
        return self._decode(response.content)

    async def aattach(self, *, timeout: float | None = None) -> Any:
        response = await self.client.arequest("GET", self.path + "/attach", self.target, timeout=timeout)
        return self._decode(response.content)

    def output(self) -> Any:
        """The result if the invocation has finished; ``InvocationNotReady`` if it is still running."""
        _forbid_running_loop("output", self.target, "aoutput")
        response = self.client.request("GET", self.path + "/output", self.target)
        return self._decode(response.content)

    async def aoutput(self) -> Any:
        response = await self.client.arequest("GET", self.path + "/output", self.target)
        return self._decode(response.content)

    def _decode(self, body: bytes) -> Any:
        if self.codec is not None:
            return self.codec.decode(body)
        return json.loads(body) if body else None


@dataclass(frozen=True, slots=True)
class PendingSend:
    """What ``send_on_commit`` returns: the send recorded in the outbox and, once the
    transaction has committed and Restate accepted it, the invocation (``handle``)."""

    ref: HandlerRef
    recorded: Pending

    @property
    def target(self) -> str:
        return self.ref.target

    @property
    def idempotency_key(self) -> str | None:
        return self.recorded.idempotency_key

    @property
    def message_id(self) -> int:
        """The outbox row (``django_restate.OutboxMessage``)."""
        return self.recorded.message_id

    @property
    def error(self) -> str | None:
        """Why the send right after the commit did not go through (a relay sends it later)."""
        return self.recorded.error

    @property
    def handle(self) -> InvocationHandle | None:
        """The accepted invocation, when the send right after the commit went through."""
        outcome = self.recorded.outcome
        if outcome is None or outcome.verdict != "delivered":
            return None
        ref = self.ref
        handle = InvocationHandle(ref.client, outcome.invocation_id, outcome.status, ref.codec, ref.target)
        return ref._by_workflow(handle) if isinstance(ref, WorkflowRunRef) else handle

    def send(self) -> InvocationHandle | None:
        """Send now (again), with the same idempotency key; the handle if Restate accepted it."""
        self.recorded.send()
        return self.handle


# -- encoding ---------------------------------------------------------------------------------


class Codec:
    """A handler's input encoder and output decoder, built once per handler.

    The serdes are the ones every caller uses (:attr:`~django_restate.reflect.HandlerSpec.serdes`), so
    client and endpoint agree on the JSON. Typed JSON is validated here, before anything is
    sent: a wrong input is the caller's :class:`InvalidPayload`, not a round trip to a 400.
    """

    def __init__(self, spec: HandlerSpec, label: str) -> None:
        self.spec = spec
        self.label = label
        self.takes_input = spec.takes_input
        self.input_serde, self.output_serde = spec.serdes

    def encode(self, arg: Any) -> bytes | None:
        if not self.takes_input:
            if arg is not MISSING:
                raise TypeError(f"{self.label} takes no input, but got {type(arg).__name__}.")
            return None
        if arg is MISSING:
            raise TypeError(f"{self.label} takes an input ({_type_name(self.spec.input_type)}); pass it.")
        serde = self.input_serde
        if not isinstance(serde, TypedJsonSerde):
            return bytes(serde.serialize(arg))
        try:
            value = serde.validate_python(arg)
        except pydantic.ValidationError as exc:
            raise InvalidPayload(
                f"The input for {self.label} is not a valid {_type_name(self.spec.input_type)}: {describe(exc)}"
            ) from None
        return serde.serialize(value) or None

    def decode(self, body: bytes) -> Any:
        serde = self.output_serde
        if not isinstance(serde, TypedJsonSerde):
            return serde.deserialize(body)
        try:
            return serde.validate_json(body) if body else serde.validate_python(None)
        except pydantic.ValidationError as exc:
            raise InvalidPayload(
                f"{self.label} returned a value that is not a {_type_name(self.spec.output_type)}: "
                f"{describe(exc)}. Is the deployed handler older or newer than this code?"
            ) from None


# Per-spec caches, keyed by id() and checked by identity (specs are rebuilt when tests re-register):
# the client builds a proxy and a handler reference per call, so what can be worked out once is.
_statics: dict[int, tuple[HandlerSpec, tuple[Codec, str, str]]] = {}
_by_attr: dict[int, tuple[ServiceSpec, dict[str, HandlerSpec]]] = {}
_by_class: dict[type, ServiceSpec] = {}


def _static(service: ServiceSpec, spec: HandlerSpec) -> tuple[Codec, str, str]:
    """A handler's codec and its URL-quoted service and handler names."""
    cached = _statics.get(id(spec))
    if cached is None or cached[0] is not spec:
        parts = (Codec(spec, f"{service.name}.{spec.attr}"), quote(service.name, safe=""), quote(spec.name, safe=""))
        cached = _statics[id(spec)] = (spec, parts)
    return cached[1]


def _handlers_of(service: ServiceSpec) -> dict[str, HandlerSpec]:
    cached = _by_attr.get(id(service))
    if cached is None or cached[0] is not service:
        cached = _by_attr[id(service)] = (service, {h.attr: h for h in service.handlers})
    return cached[1]


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or repr(annotation)


# -- helpers ----------------------------------------------------------------------------------

_unregistered: dict[type[RestateService], ServiceSpec] = {}


def _spec(cls: Any, kind: str) -> ServiceSpec:
    """The spec of a handler class: from the registry, or read from a class served elsewhere."""
    if isinstance(cls, str):
        raise TypeError(f"Pass the handler class, not its name: client.{kind}(ClassName, ...) instead of {cls!r}.")
    spec = _by_class.get(cls) if isinstance(cls, type) else None
    if spec is None or spec.name not in registry or registry.get(spec.name) is not spec:
        spec = _by_class[cls] = _registered_or_read(cls)
    if spec.kind != kind:
        raise spec.wrong_kind("client")
    return spec


def _registered_or_read(cls: Any) -> ServiceSpec:
    try:
        return registry.get(cls)
    except NotRegistered:
        if not (isinstance(cls, type) and issubclass(cls, RestateService)) or cls._meta.abstract:
            raise TypeError(
                f"{cls!r} is not a handler class: pass a concrete subclass of django_restate.Service, "
                "VirtualObject or Workflow."
            ) from None
        # A class this project calls but does not serve (another deployment serves it).
        return _unregistered.get(cls) or _unregistered.setdefault(cls, reflect(cls))


#: Keys made only of characters a URL path segment keeps as they are need no quoting (most do not).
_plain = re.compile(r"[A-Za-z0-9_.~-]+").fullmatch


def _quote(segment: str) -> str:
    return segment if _plain(segment) else quote(segment, safe="")


def _key(cls: Any, key: Any, what: str) -> str:
    if not isinstance(key, str):
        raise TypeError(f"The {what} of {getattr(cls, '__name__', cls)} must be a str, not {type(key).__name__}.")
    return key


def _milliseconds(delay: Delay) -> int:
    seconds = delay.total_seconds() if isinstance(delay, timedelta) else float(delay)
    if seconds < 0:
        raise ValueError(f"delay must not be negative, got {delay!r}.")
    return round(seconds * 1000)


def _no_idempotency_key_for_workflow(ref: HandlerRef, idempotency_key: str | None) -> None:
    if idempotency_key is not None:
        raise TypeError(
            f"{ref.target} is a workflow run: it runs once per workflow id ({ref.key!r}) already. "
            "Drop idempotency_key, or derive the workflow id from it."
        )


def _forbid_running_loop(method: str, target: str, twin: str | None = None, hint: str | None = None) -> None:
    """Blocking HTTP in an event loop stalls everything the loop serves: say what to use instead."""
    # The non-raising twin of get_running_loop(): this check runs before every blocking call.
    if asyncio.events._get_running_loop() is None or os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE"):
        return
    hint = hint or f"In async code use `await ....{twin}(...)`, the async twin."
    raise SynchronousOnlyOperation(f"{method}() of {target} blocks and cannot run in an event loop. {hint}")


def _timeout_arg(http: httpx.Client | httpx.AsyncClient, seconds: float) -> Any:
    """The HTTP client's own timeout when it is the one wanted: httpx builds a new one per request otherwise."""
    return httpx.USE_CLIENT_DEFAULT if http.timeout.read == seconds else seconds


def _transport_error(url: str, exc: httpx.TransportError, timeout: float) -> RestateClientError:
    if isinstance(exc, (httpx.ReadTimeout, httpx.WriteTimeout)):
        return IngressTimeout(url, timeout)
    return IngressUnreachable(url, str(exc) or type(exc).__name__)


def _error_from(response: httpx.Response, target: str) -> RestateClientError:
    status = response.status_code
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
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
