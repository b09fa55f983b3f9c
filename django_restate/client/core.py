"""``RestateClient``: addresses handlers by class (or registered name) over one transport."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar, overload

import httpx

from ..handlers import RestateService
from ..reflect import ServiceSpec, reflect
from ..registry import NotRegistered, Registry, registry
from .codec import MISSING
from .http import HttpTransport
from .refs import Delay, HandlerRef, InvocationHandle, ServiceProxy, reference
from .transport import Address, HasTransport, Transport, carried_over

I = TypeVar("I")  # noqa: E741 - a handler's input type, as in the SDK's HandlerType[I, O]
O = TypeVar("O")  # noqa: E741 - its output type

#: What ``client.call(Cart.add_item, item, key=...)`` accepts: a handler method taking an input...
HandlerWithInput = Callable[[Any, Any, I], Awaitable[O]]
#: ... or one that takes only its context.
HandlerWithoutInput = Callable[[Any, Any], Awaitable[O]]


class HandlerCalls:
    """Calls by handler method, typed from its annotations: ``client.call(Cart.add_item, item, key="alice")``
    is an ``int`` to mypy when ``add_item`` returns one. Shared by :class:`RestateClient` and the mock."""

    def ref(self, handler: Callable[..., Any], *, key: str | None = None) -> HandlerRef:
        raise NotImplementedError

    @overload
    def call(
        self,
        handler: HandlerWithoutInput[O],
        *,
        key: str | None = None,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> O: ...

    @overload
    def call(
        self,
        handler: HandlerWithInput[I, O],
        arg: I,
        *,
        key: str | None = None,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> O: ...

    def call(
        self,
        handler: Callable[..., Awaitable[Any]],
        arg: Any = MISSING,
        *,
        key: str | None = None,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Call a handler method and wait: ``total = client.call(Cart.add_item, item, key="alice")``;
        mypy knows ``total`` is what ``add_item`` returns."""
        return self.ref(handler, key=key).call(arg, idempotency_key=idempotency_key, headers=headers, timeout=timeout)

    @overload
    async def acall(
        self,
        handler: HandlerWithoutInput[O],
        *,
        key: str | None = None,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> O: ...

    @overload
    async def acall(
        self,
        handler: HandlerWithInput[I, O],
        arg: I,
        *,
        key: str | None = None,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> O: ...

    async def acall(
        self,
        handler: Callable[..., Awaitable[Any]],
        arg: Any = MISSING,
        *,
        key: str | None = None,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """The async twin of :meth:`call`."""
        ref = self.ref(handler, key=key)
        return await ref.acall(arg, idempotency_key=idempotency_key, headers=headers, timeout=timeout)

    @overload
    def send(
        self,
        handler: HandlerWithoutInput[O],
        *,
        key: str | None = None,
        delay: Delay | None = None,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> InvocationHandle[O]: ...

    @overload
    def send(
        self,
        handler: HandlerWithInput[I, O],
        arg: I,
        *,
        key: str | None = None,
        delay: Delay | None = None,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> InvocationHandle[O]: ...

    def send(
        self,
        handler: Callable[..., Awaitable[Any]],
        arg: Any = MISSING,
        *,
        key: str | None = None,
        delay: Delay | None = None,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> InvocationHandle[Any]:
        """Send to a handler method without waiting: ``handle = client.send(Cart.add_item, item, key="alice")``;
        ``handle.attach()`` is typed like the handler's result."""
        ref = self.ref(handler, key=key)
        return ref.send(arg, delay=delay, idempotency_key=idempotency_key, headers=headers)

    @overload
    async def asend(
        self,
        handler: HandlerWithoutInput[O],
        *,
        key: str | None = None,
        delay: Delay | None = None,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> InvocationHandle[O]: ...

    @overload
    async def asend(
        self,
        handler: HandlerWithInput[I, O],
        arg: I,
        *,
        key: str | None = None,
        delay: Delay | None = None,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> InvocationHandle[O]: ...

    async def asend(
        self,
        handler: Callable[..., Awaitable[Any]],
        arg: Any = MISSING,
        *,
        key: str | None = None,
        delay: Delay | None = None,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> InvocationHandle[Any]:
        """The async twin of :meth:`send`."""
        ref = self.ref(handler, key=key)
        return await ref.asend(arg, delay=delay, idempotency_key=idempotency_key, headers=headers)


class RestateClient(HandlerCalls):
    """Calls and sends to handlers over a transport: HTTP to the Restate ingress by default.

    ``url``, ``headers`` and ``timeout`` configure the HTTP transport and default to
    ``RESTATE["INGRESS_URL"]``, ``RESTATE["INGRESS_HEADERS"]`` and ``RESTATE["TIMEOUT"]``,
    read at each request, so ``override_settings`` takes effect at once. ``transport`` is
    either an httpx transport for it (``httpx.MockTransport``, unix sockets, proxies; with
    ``async_transport`` for async calls) or a whole :class:`~.transport.Transport`, such as
    the mock: ``RestateClient(transport=restate_mock)``.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        transport: Transport | HasTransport | httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._transport: Transport
        if transport is None or isinstance(transport, httpx.BaseTransport):
            self._transport = HttpTransport(
                url, headers=headers, timeout=timeout, transport=transport, async_transport=async_transport
            )
        else:
            if url is not None or headers is not None or timeout is not None or async_transport is not None:
                raise TypeError(f"url, headers, timeout and async_transport configure HTTP, not {transport!r}.")
            self._transport = carried_over(transport)
        self._using: Transport | None = None

    @property
    def transport(self) -> Transport:
        """Where requests go: the transport of :meth:`using` while it is active, else this client's own."""
        using = self._using
        return self._transport if using is None else using

    @contextmanager
    def using(self, transport: Transport | HasTransport) -> Iterator[Transport]:
        """Send everything this client sends through ``transport`` inside the block, from any thread:
        ``with client.using(restate_mock): ...`` runs a view's calls against the mock (the
        ``restate_mock`` fixture does this for the project's ``client``). Blocks nest."""
        chosen = carried_over(transport)
        saved, self._using = self._using, chosen
        try:
            yield chosen
        finally:
            self._using = saved

    # -- addressing handlers --------------------------------------------------------------

    def service(self, cls: type[RestateService] | str) -> ServiceProxy:
        """The handlers of a Service: ``client.service(Greeter).greet("Ada")``."""
        return ServiceProxy(self, _spec(cls, "service"), None)

    def object(self, cls: type[RestateService] | str, key: str) -> ServiceProxy:
        """The handlers of one Virtual Object: ``client.object(Cart, "alice").add_item(item)``."""
        return ServiceProxy(self, _spec(cls, "object"), _key(cls, key, "key"))

    def workflow(self, cls: type[RestateService] | str, workflow_id: str) -> ServiceProxy:
        """One workflow: ``.run.submit(...)`` starts it, ``.run.attach()`` waits for its result,
        shared handlers are called like any other (``.status()``)."""
        return ServiceProxy(self, _spec(cls, "workflow"), _key(cls, workflow_id, "workflow id"))

    def invocation(self, invocation_id: str) -> InvocationHandle[Any]:
        """An invocation by id (``inv_...``), to ``attach()`` or read its ``output()``.

        Its output is decoded as plain JSON; ``ref.invocation(...)`` on a handler
        reference decodes it with the handler's output type.
        """
        address = Address(invocation_id, invocation_id)
        return InvocationHandle(self.transport, invocation_id, None, None, invocation_id, address)

    def ref(self, handler: Callable[..., Any], *, key: str | None = None) -> HandlerRef:
        """The reference to a handler method: ``client.ref(Cart.add_item, key="alice")``."""
        return method_ref(self, registry, handler, key)

    # -- the HTTP transport -----------------------------------------------------------------

    @property
    def http(self) -> HttpTransport:
        """This client's HTTP transport (``TypeError`` when it has another), for raw requests to the
        ingress: ``client.http.request("POST", path, target, content=...)`` (awakeables, the outbox)."""
        if not isinstance(self._transport, HttpTransport):
            raise TypeError(f"This client sends through {self._transport!r}, not HTTP.")
        return self._transport

    @property
    def url(self) -> str:
        return self.http.url

    def close(self) -> None:
        if isinstance(self._transport, HttpTransport):
            self._transport.close()

    async def aclose(self) -> None:
        """Close this loop's async HTTP client (and the sync one)."""
        if isinstance(self._transport, HttpTransport):
            await self._transport.aclose()

    def __enter__(self) -> RestateClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    async def __aenter__(self) -> RestateClient:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<RestateClient via {self.transport!r}>"


# -- from a class, a name or a method to its spec ------------------------------------------------

_by_class: dict[Any, ServiceSpec] = {}
_unregistered: dict[type[RestateService], ServiceSpec] = {}


def _spec(cls: Any, kind: str) -> ServiceSpec:
    """The spec of a handler class or registered service name: from the registry, or read from a
    class served elsewhere."""
    spec = _by_class.get(cls)
    if spec is None or not _current(spec):
        spec = _by_class[cls] = registry.get(cls) if isinstance(cls, str) else _registered_or_read(cls)
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
                "VirtualObject or Workflow (or the name of a registered service)."
            ) from None
        # A class this project calls but does not serve (another deployment serves it).
        return _unregistered.get(cls) or _unregistered.setdefault(cls, reflect(cls))


def method_ref(restate: RestateClient, where: Registry, handler: Callable[..., Any], key: str | None) -> HandlerRef:
    """The reference to a handler method, with the key its kind needs (none for a Service)."""
    service, spec = where.for_method(handler)
    if service.kind == "service":
        if key is not None:
            raise TypeError(f"{service.name} is a Service: call {spec.attr} without a key.")
    elif key is None:
        what = "key" if service.kind == "object" else "workflow id"
        raise TypeError(f"{service.name} is a {service.sdk_type}: pass its {what}, key=....")
    else:
        _key(service.cls, key, "key")
    return reference(restate, service, spec, key)


def _current(spec: ServiceSpec) -> bool:
    """Still the registered spec of its name (tests re-register, which rebuilds specs)."""
    return spec.name in registry and registry.get(spec.name) is spec


def _key(cls: Any, key: Any, what: str) -> str:
    if not isinstance(key, str):
        raise TypeError(f"The {what} of {getattr(cls, '__name__', cls)} must be a str, not {type(key).__name__}.")
    return key
