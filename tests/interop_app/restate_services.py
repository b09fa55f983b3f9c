"""Handlers typed the way the Python SDK's conformance services type them (``typing.TypedDict``
with ``Optional`` keys, a sealed hierarchy of pydantic models, ``Iterable`` inputs), called with the
bytes that non-Python clients send."""

# ruff: noqa: UP045  (Optional[...], as the SDK's services write it)

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from typing import Any, Literal, Optional, TypedDict

import restate
from pydantic import BaseModel

from django_restate import Service, VirtualObject, handler


class ProxyRequest(TypedDict):  # typing.TypedDict on purpose: the SDK accepts it on Python 3.11
    serviceName: str
    virtualObjectKey: Optional[str]
    handlerName: str
    message: list[int]
    delayMillis: Optional[int]
    idempotencyKey: str | None


@dataclasses.dataclass
class Reading:
    sensor: str
    celsius: Optional[float]
    unit: Literal["C"]


class Circle(BaseModel):
    """A concrete class of the sealed hierarchy ``Shape = Circle | Square``: a Kotlin client that
    serialises a ``Circle`` as itself sends no ``"type"``."""

    type: Literal["circle"]
    radius: float
    label: str | None


class Square(BaseModel):
    type: Literal["square"]
    side: float


class Note(BaseModel):
    text: str


class Interop(Service):
    async def proxy(self, ctx: restate.Context, req: ProxyRequest) -> dict[str, Any]:
        return dict(req)

    async def reading(self, ctx: restate.Context, reading: Reading) -> dict[str, Any]:
        return dataclasses.asdict(reading)

    async def circle(self, ctx: restate.Context, circle: Circle) -> dict[str, Any]:
        assert isinstance(circle, Circle)
        return circle.model_dump()

    async def shape(self, ctx: restate.Context, shape: Circle | Square) -> str:
        return shape.type

    async def maybe_note(self, ctx: restate.Context, note: Note | None) -> str:
        return "no note" if note is None else note.text

    async def note(self, ctx: restate.Context, note: Note) -> str:
        return note.text

    async def total(self, ctx: restate.Context, values: Iterable[int]) -> int:
        return sum(values)

    @handler(validate_input=False)
    async def raw_proxy(self, ctx: restate.Context, req: ProxyRequest) -> dict[str, Any]:
        return dict(req)  # exactly what the caller sent, as the bare SDK passes it


class LooseInterop(Service):
    """Every handler decodes like the SDK: parse only."""

    class Meta:
        validate_input = False

    async def proxy(self, ctx: restate.Context, req: ProxyRequest) -> dict[str, Any]:
        return dict(req)

    async def note(self, ctx: restate.Context, note: Note) -> str:
        return note.text  # a pydantic model is still built, as the SDK builds it

    @handler(validate_input=True)
    async def strict(self, ctx: restate.Context, req: ProxyRequest) -> dict[str, Any]:
        return dict(req)


class InteropCounter(VirtualObject):
    async def add(self, ctx: restate.ObjectContext, amount: int) -> int:
        value = await self.get(ctx) + amount
        ctx.set("value", value)
        return value

    async def get(self, ctx: restate.ObjectSharedContext | restate.ObjectContext) -> int:
        """Shared, and also called directly from the exclusive ``add`` (the SDK's spelling)."""
        return await ctx.get("value", type_hint=int) or 0


log = logging.getLogger("tests.interop_app")


class LoggingCounter(VirtualObject):
    """Logs around two steps: over HTTP/1.1 Restate re-invokes the handler after each, replaying."""

    async def bump(self, ctx: restate.ObjectContext, tag: str) -> int:
        log.info("bump %s started", tag)
        first = await ctx.run_typed("first", lambda: 1)
        log.info("bump %s after the first step", tag)
        second = await ctx.run_typed("second", lambda: 2)
        log.info("bump %s done", tag)
        return first + second
