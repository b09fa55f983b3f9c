"""What the handler references ask of whatever carries their requests: the ingress, or the mock.

A reference (:mod:`.refs`) validates and encodes the input, then hands a transport one
:class:`Request` (or, to wait for or read an invocation that exists, one :class:`Address`)
and decodes the bytes it gets back. :class:`~.http.HttpTransport` sends them to the
Restate ingress; :class:`~django_restate.testing.harness.MockRestate` runs the handler
in-process. Both raise the same errors (:mod:`django_restate.exceptions`), so code written
against one runs against the other, as Django's cache and email backends do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, Protocol, cast, runtime_checkable

from ..reflect import HandlerSpec, ServiceSpec

if TYPE_CHECKING:
    from ..outbox import Outcome


@dataclass(slots=True)
class Request:
    """One invocation of one handler, as a reference describes it (built per call: slots, no frozen)."""

    service: ServiceSpec
    handler: HandlerSpec
    #: The object key or workflow id; ``None`` for a Service.
    key: str | None
    #: ``Service/handler`` or ``Object/key/handler``, as error messages name it.
    target: str
    #: The encoded input; ``None`` when the handler takes none.
    body: bytes | None
    headers: Mapping[str, str] | None = None
    idempotency_key: str | None = None
    #: Seconds to wait before the invocation starts (sends only).
    delay: float | None = None
    #: Seconds to wait for an answer; ``None`` is the transport's default.
    timeout: float | None = None


@dataclass(frozen=True, slots=True)
class Address:
    """An invocation that exists, to attach to or read the output of.

    By ``invocation_id``; else by ``idempotency_key`` (with the service, handler and key
    it was sent to); else, for a workflow's run, by the workflow id (``key``).
    """

    target: str
    invocation_id: str | None = None
    service: ServiceSpec | None = None
    handler: HandlerSpec | None = None
    key: str | None = None
    idempotency_key: str | None = None


class Accepted(NamedTuple):
    """The answer to a send."""

    invocation_id: str
    #: ``"Accepted"``, or ``"PreviouslyAccepted"`` when an idempotency key / workflow id matched.
    status: str | None


@runtime_checkable
class Transport(Protocol):
    """Carries requests to handlers and brings back their encoded results.

    ``call`` and ``attach`` return the handler's output bytes (``b""`` for none) or raise
    :class:`~django_restate.exceptions.HandlerError` with its ``TerminalError``;
    ``output`` raises :class:`~django_restate.exceptions.InvocationNotReady` while it runs.
    """

    def call(self, request: Request) -> bytes: ...

    async def acall(self, request: Request) -> bytes: ...

    def send(self, request: Request) -> Accepted: ...

    async def asend(self, request: Request) -> Accepted: ...

    def attach(self, address: Address, timeout: float | None = None) -> bytes: ...

    async def aattach(self, address: Address, timeout: float | None = None) -> bytes: ...

    def output(self, address: Address) -> bytes: ...

    async def aoutput(self, address: Address) -> bytes: ...

    def send_on_commit(self, request: Request, using: str | None) -> Recorded:
        """Send ``request`` once the transaction on ``using`` commits, nothing if it rolls back.

        ``request.idempotency_key`` is the caller's; the transport sends with
        :func:`on_commit_key`'s. HTTP writes it to the outbox (:mod:`django_restate.outbox`).
        """
        ...


class Recorded(Protocol):
    """What a transport keeps of a ``send_on_commit``: the outbox's row, or the mock's queued send."""

    @property
    def idempotency_key(self) -> str | None: ...

    @property
    def error(self) -> str | None: ...

    @property
    def outcome(self) -> Outcome | None: ...

    def send(self) -> Outcome: ...


def on_commit_key(request: Request, using: str | None) -> str | None:
    """The idempotency key a ``send_on_commit`` is sent with: none for a workflow's run (its id is
    the key), else the caller's numbered within the transaction, or a random one
    (:func:`django_restate.outbox.derive_key`)."""
    from ..outbox import derive_key

    if request.handler.kind == "workflow":
        return None
    return derive_key(request.target, request.idempotency_key, using)


@runtime_checkable
class HasTransport(Protocol):
    """Something that carries its requests over a transport: a client, or the mock (``restate_mock``)."""

    @property
    def transport(self) -> Transport: ...


def carried_over(transport: Transport | HasTransport) -> Transport:
    """``transport`` itself, or the one a client or the mock (a :class:`HasTransport`) carries requests over."""
    # What isinstance(transport, HasTransport) decides (a runtime protocol checks that its members
    # exist), without its cost: Python 3.11 lists the protocol's members again on every check.
    if hasattr(transport, "transport"):
        return cast(HasTransport, transport).transport
    return transport
