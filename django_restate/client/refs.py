"""Handler references: ``client.object(Cart, "alice").add_item`` and what it can do.

A reference encodes the input with the handler's annotation, hands the transport of its
client one :class:`~.transport.Request`, and decodes what comes back. It is the same class
whichever transport carries it (the ingress, or the mock in tests).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from django.core.exceptions import SynchronousOnlyOperation

from ..exceptions import InvalidPayload, SendOnCommitFailed
from ..reflect import HandlerSpec, ServiceSpec
from .codec import MISSING, Codec, codec_for
from .transport import Accepted, Address, Recorded, Request, Transport

if TYPE_CHECKING:
    from .core import RestateClient

O = TypeVar("O")  # noqa: E741 - a handler's output type, as in the SDK's HandlerType[I, O]

Delay = timedelta | float | int


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
        return reference(self._client, self._spec, handler, self._key)

    def __dir__(self) -> list[str]:
        return [h.attr for h in self._spec.handlers]

    def __repr__(self) -> str:
        where = f" {self._key!r}" if self._key is not None else ""
        return f"<{self._spec.sdk_type} {self._spec.name}{where} via {self._client.transport!r}>"


def reference(restate: RestateClient, service: ServiceSpec, handler: HandlerSpec, key: str | None) -> HandlerRef:
    """The reference to one handler: a :class:`WorkflowRunRef` for a workflow's run."""
    kind = WorkflowRunRef if handler.kind == "workflow" else HandlerRef
    return kind(restate, service, handler, key)


class HandlerRef:
    """One handler of one service, object or workflow. Calling it waits for the result."""

    __slots__ = ("client", "service", "handler", "key", "codec", "target")

    def __init__(self, restate: RestateClient, service: ServiceSpec, handler: HandlerSpec, key: str | None) -> None:
        self.client = restate
        self.service = service
        self.handler = handler
        self.key = key
        self.codec = codec_for(service, handler)
        #: ``Service/handler`` or ``Object/key/handler``, as error messages name it.
        self.target = service.target(key, handler)

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
        request = Request(
            self.service, self.handler, self.key, self.target, self.codec.encode(arg), headers, idempotency_key,
            None, timeout,
        )  # fmt: skip
        return self.codec.decode(self.client.transport.call(request))

    async def acall(
        self,
        arg: Any = MISSING,
        *,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """The async twin of :meth:`call`."""
        request = Request(
            self.service, self.handler, self.key, self.target, self.codec.encode(arg), headers, idempotency_key,
            None, timeout,
        )  # fmt: skip
        return self.codec.decode(await self.client.transport.acall(request))

    # -- send: start it, don't wait -------------------------------------------------------

    def send(
        self,
        arg: Any = MISSING,
        *,
        delay: Delay | None = None,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> InvocationHandle[Any]:
        """Start the handler without waiting; returns a handle to ``attach()`` to later.

        ``delay`` (a ``timedelta`` or seconds) schedules it for later. With an
        ``idempotency_key``, sending again with the same key returns the first
        invocation (``handle.status == "PreviouslyAccepted"``) instead of starting another.
        """
        _forbid_running_loop("send", self.target, "asend")
        transport = self.client.transport
        return self._handle(transport, transport.send(self._send_request(arg, delay, idempotency_key, headers)))

    async def asend(
        self,
        arg: Any = MISSING,
        *,
        delay: Delay | None = None,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> InvocationHandle[Any]:
        """The async twin of :meth:`send`."""
        transport = self.client.transport
        request = self._send_request(arg, delay, idempotency_key, headers)
        return self._handle(transport, await transport.asend(request))

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

        With the mock (``restate_mock``) the send is queued at the commit and runs when the test drains.
        """
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
        request = Request(
            self.service, self.handler, self.key, self.target, body, dict(headers or {}), idempotency_key,
            _seconds(delay),
        )  # fmt: skip
        transport = self.client.transport
        return PendingSend(self, transport, transport.send_on_commit(request, using))

    # -- existing invocations -------------------------------------------------------------

    def invocation(self, *, idempotency_key: str) -> InvocationHandle[Any]:
        """The invocation of this handler started with ``idempotency_key``, to attach to or read."""
        address = Address(self.target, None, self.service, self.handler, self.key, idempotency_key)
        return InvocationHandle(self.client.transport, None, None, self.codec, self.target, address)

    # -- helpers --------------------------------------------------------------------------

    def _send_request(
        self, arg: Any, delay: Delay | None, idempotency_key: str | None, headers: Mapping[str, str] | None
    ) -> Request:
        body = self.codec.encode(arg)
        seconds = None if delay is None else _seconds(delay)
        return Request(self.service, self.handler, self.key, self.target, body, headers, idempotency_key, seconds)

    def _handle(self, transport: Transport, accepted: Accepted) -> InvocationHandle[Any]:
        address = Address(self.target, accepted.invocation_id)
        return InvocationHandle(transport, accepted.invocation_id, accepted.status, self.codec, self.target, address)


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
    ) -> InvocationHandle[Any]:
        """Start the workflow (same as :meth:`submit`)."""
        _no_idempotency_key_for_workflow(self, idempotency_key)
        return super().send(arg, delay=delay, headers=headers)

    async def asend(
        self,
        arg: Any = MISSING,
        *,
        delay: Delay | None = None,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> InvocationHandle[Any]:
        _no_idempotency_key_for_workflow(self, idempotency_key)
        return await super().asend(arg, delay=delay, headers=headers)

    #: Restate's word for starting a workflow.
    submit = send
    asubmit = asend

    def attach(self, *, timeout: float | None = None) -> Any:
        """Wait for the workflow's result."""
        return self._workflow_handle(self.client.transport).attach(timeout=timeout)

    async def aattach(self, *, timeout: float | None = None) -> Any:
        return await self._workflow_handle(self.client.transport).aattach(timeout=timeout)

    def output(self) -> Any:
        """The workflow's result; :class:`~django_restate.exceptions.InvocationNotReady` while it runs."""
        return self._workflow_handle(self.client.transport).output()

    async def aoutput(self) -> Any:
        return await self._workflow_handle(self.client.transport).aoutput()

    def _workflow_handle(
        self, transport: Transport, invocation_id: str | None = None, status: str | None = None
    ) -> InvocationHandle[Any]:
        address = Address(self.target, None, self.service, self.handler, self.key)
        return InvocationHandle(transport, invocation_id, status, self.codec, self.target, address)

    def _handle(self, transport: Transport, accepted: Accepted) -> InvocationHandle[Any]:
        return self._workflow_handle(transport, accepted.invocation_id, accepted.status)


@dataclass(frozen=True, slots=True)
class InvocationHandle(Generic[O]):
    """An invocation that was sent (or looked up): attach to it, or read its output.

    It stays with the transport that sent it (the ingress, or the mock).
    """

    transport: Transport = field(repr=False)
    invocation_id: str | None
    #: ``"Accepted"``, or ``"PreviouslyAccepted"`` when an idempotency key / workflow id matched.
    status: str | None
    codec: Codec | None = field(repr=False)
    target: str
    #: Where the transport finds it: by its id, a workflow id or an idempotency key.
    address: Address = field(repr=False)

    def attach(self, *, timeout: float | None = None) -> O:
        """Wait for the invocation to finish and return its result (or raise its ``HandlerError``)."""
        _forbid_running_loop("attach", self.target, "aattach")
        return self._decode(self.transport.attach(self.address, timeout))

    async def aattach(self, *, timeout: float | None = None) -> O:
        return self._decode(await self.transport.aattach(self.address, timeout))

    def output(self) -> O:
        """The result if the invocation has finished; ``InvocationNotReady`` if it is still running."""
        _forbid_running_loop("output", self.target, "aoutput")
        return self._decode(self.transport.output(self.address))

    async def aoutput(self) -> O:
        return self._decode(await self.transport.aoutput(self.address))

    def _decode(self, body: bytes) -> O:
        if self.codec is not None:
            result: O = self.codec.decode(body)
            return result
        plain: O = json.loads(body or b"null")
        return plain


@dataclass(frozen=True, slots=True)
class PendingSend:
    """What ``send_on_commit`` returns: the send the transport recorded (a row in the outbox, or the
    mock's) and, once the transaction has committed and Restate accepted it, the invocation (``handle``)."""

    ref: HandlerRef
    transport: Transport = field(repr=False)
    recorded: Recorded

    @property
    def target(self) -> str:
        return self.ref.target

    @property
    def idempotency_key(self) -> str | None:
        """The key it is sent with: the caller's, ``"<key>#<n>"`` for the n-th in a transaction, or random."""
        return self.recorded.idempotency_key

    @property
    def message_id(self) -> int | None:
        """The outbox row (``django_restate.OutboxMessage``); None with the mock."""
        message_id: int | None = getattr(self.recorded, "message_id", None)
        return message_id

    @property
    def error(self) -> str | None:
        """Why the send right after the commit did not go through (a relay sends it later)."""
        return self.recorded.error

    @property
    def handle(self) -> InvocationHandle[Any] | None:
        """The accepted invocation, when the send right after the commit went through."""
        outcome = self.recorded.outcome
        if outcome is None or outcome.verdict != "delivered":
            return None
        return self.ref._handle(self.transport, Accepted(outcome.invocation_id, outcome.status))

    def send(self) -> InvocationHandle[Any] | None:
        """Send now (again), with the same idempotency key; the handle if Restate accepted it."""
        self.recorded.send()
        return self.handle


# -- helpers ----------------------------------------------------------------------------------

#: Each service's handlers by attribute name, keyed by id() and checked by identity.
_by_attr: dict[int, tuple[ServiceSpec, dict[str, HandlerSpec]]] = {}


def _handlers_of(service: ServiceSpec) -> dict[str, HandlerSpec]:
    cached = _by_attr.get(id(service))
    if cached is None or cached[0] is not service:
        cached = _by_attr[id(service)] = (service, {h.attr: h for h in service.handlers})
    return cached[1]


def _seconds(delay: Delay | None) -> float | None:
    if delay is None:
        return None
    seconds = delay.total_seconds() if isinstance(delay, timedelta) else float(delay)
    if seconds < 0:
        raise ValueError(f"delay must not be negative, got {delay!r}.")
    return seconds


def _no_idempotency_key_for_workflow(ref: HandlerRef, idempotency_key: str | None) -> None:
    if idempotency_key is not None:
        raise TypeError(
            f"{ref.target} is a workflow run: it runs once per workflow id ({ref.key!r}) already. "
            "Drop idempotency_key, or derive the workflow id from it."
        )


def _forbid_running_loop(method: str, target: str, twin: str | None = None, hint: str | None = None) -> None:
    """Blocking I/O in an event loop stalls everything the loop serves: say what to use instead."""
    # The non-raising twin of get_running_loop(): this check runs before every blocking call.
    if asyncio.events._get_running_loop() is None or os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE"):
        return
    hint = hint or f"In async code use `await ....{twin}(...)`, the async twin."
    raise SynchronousOnlyOperation(f"{method}() of {target} blocks and cannot run in an event loop. {hint}")


__all__ = ["MISSING", "Delay", "HandlerRef", "InvocationHandle", "PendingSend", "ServiceProxy", "WorkflowRunRef"]
