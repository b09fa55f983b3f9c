"""The mock's twin of :mod:`django_restate.client`'s handler references.

``restate_mock.object(Cart, "alice").add_item(item)`` reads like
``client.object(Cart, "alice").add_item(item)``: inputs are checked and encoded by the
client's own codec, results decoded by it, and a handler's ``TerminalError`` arrives as
the client's :class:`~django_restate.exceptions.HandlerError`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from ..client import MISSING, Codec
from ..exceptions import HandlerError
from ..reflect import HandlerSpec, ServiceSpec
from .replay import Failure

if TYPE_CHECKING:
    from .harness import MockRestate
    from .invocation import Invocation

Delay = timedelta | float | int


def codec(service: ServiceSpec, handler: HandlerSpec) -> Codec:
    """The client's codec for a handler (cheap: its serdes are shared per type)."""
    return Codec(handler, f"{service.name}.{handler.attr}")


def outcome(inv: Invocation, output: bytes | Failure | None, codec: Codec) -> Any:
    """The decoded result, or the failure raised as the client raises it."""
    if isinstance(output, Failure):
        raise HandlerError(output.code, output.message, inv.target, inv.id)
    return codec.decode(output or b"")


def seconds(delay: Delay | None) -> float:
    if delay is None:
        return 0.0
    return delay.total_seconds() if isinstance(delay, timedelta) else float(delay)


class MockServiceProxy:
    """The handlers of one service, object (``key``) or workflow (``key`` = workflow id)."""

    def __init__(self, mock: MockRestate, spec: ServiceSpec, key: str) -> None:
        self._mock, self._spec, self._key = mock, spec, key

    def __getattr__(self, attr: str) -> MockHandlerRef:
        if attr.startswith("_"):
            raise AttributeError(attr)
        for handler in self._spec.handlers:
            if handler.attr == attr:
                kind = MockWorkflowRunRef if handler.kind == "workflow" else MockHandlerRef
                return kind(self._mock, self._spec, handler, self._key)
        names = ", ".join(h.attr for h in self._spec.handlers)
        raise AttributeError(f"{self._spec.name} has no handler {attr!r} (its handlers: {names}).")

    def __dir__(self) -> list[str]:
        return [h.attr for h in self._spec.handlers]

    def __repr__(self) -> str:
        where = f" {self._key!r}" if self._key else ""
        return f"<mock {self._spec.sdk_type} {self._spec.name}{where}>"


class MockHandlerRef:
    """One handler of one service instance. Calling it runs the handler and returns its result."""

    def __init__(self, mock: MockRestate, service: ServiceSpec, handler: HandlerSpec, key: str) -> None:
        self.mock, self.service, self.handler, self.key = mock, service, handler, key
        self.codec = codec(service, handler)

    def __repr__(self) -> str:
        return f"<mock HandlerRef {self.service.target(self.key, self.handler)}>"

    def __call__(
        self, arg: Any = MISSING, *, idempotency_key: str | None = None, headers: dict[str, str] | None = None
    ) -> Any:
        return self.call(arg, idempotency_key=idempotency_key, headers=headers)

    def call(
        self, arg: Any = MISSING, *, idempotency_key: str | None = None, headers: dict[str, str] | None = None
    ) -> Any:
        """Run the handler now (and what it calls) and return its result; sends it makes stay queued."""
        return self.mock._sync(self.acall(arg, idempotency_key=idempotency_key, headers=headers))

    async def acall(
        self, arg: Any = MISSING, *, idempotency_key: str | None = None, headers: dict[str, str] | None = None
    ) -> Any:
        body = self.codec.encode(arg) or b""
        inv, output = await self.mock._call(self.service, self.handler, self.key, body, idempotency_key, headers)
        return outcome(inv, output, self.codec)

    def send(
        self,
        arg: Any = MISSING,
        *,
        delay: Delay | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> MockHandle:
        """Queue the invocation; it runs on ``restate_mock.drain()`` (or ``handle.attach()``)."""
        body = self.codec.encode(arg) or b""
        return self.mock._send(self.service, self.handler, self.key, body, seconds(delay), idempotency_key, headers)

    async def asend(
        self,
        arg: Any = MISSING,
        *,
        delay: Delay | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> MockHandle:
        return self.send(arg, delay=delay, idempotency_key=idempotency_key, headers=headers)


class MockWorkflowRunRef(MockHandlerRef):
    """A workflow's run: once per workflow id. ``submit()`` starts it, ``attach()`` waits for it."""

    submit = MockHandlerRef.send
    asubmit = MockHandlerRef.asend

    def attach(self) -> Any:
        return self.mock._sync(self.aattach())

    async def aattach(self) -> Any:
        inv = self.mock.engine.admission.workflow_run(self.service.name, self.key)
        if inv is None:
            raise HandlerError(404, "workflow not found", self.service.target(self.key, self.handler))
        return await MockHandle(self.mock, inv, "Accepted", self.codec).aattach()


class MockHandle:
    """A sent invocation. ``attach()`` drains until it finishes and returns its result."""

    def __init__(self, mock: MockRestate, invocation: Invocation, status: str, codec: Codec) -> None:
        self.mock = mock
        self.invocation = invocation
        self.invocation_id = invocation.id
        #: ``"Accepted"``, or ``"PreviouslyAccepted"`` when an idempotency key / workflow id matched.
        self.status = status
        self.codec = codec

    @property
    def done(self) -> bool:
        return self.invocation.done

    def attach(self) -> Any:
        return self.mock._sync(self.aattach())

    async def aattach(self) -> Any:
        return outcome(self.invocation, await self.mock._attach(self.invocation), self.codec)

    def __repr__(self) -> str:
        return f"<MockHandle {self.invocation.target} {self.invocation_id} {self.invocation.status}>"
