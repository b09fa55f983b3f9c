"""Handlers whose inputs and outputs are dataclasses, TypedDicts, pydantic models and JSON types."""

from __future__ import annotations

import dataclasses

import restate
from pydantic import BaseModel
from typing_extensions import TypedDict  # pydantic needs it on Python < 3.12

from django_restate import Service


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Box(TypedDict):
    width: float
    height: float


class Label(BaseModel):
    text: str
    size: int = 12


class Shapes(Service):
    async def mirror(self, ctx: restate.Context, point: Point) -> Point:
        return Point(x=-point.x, y=-point.y)

    async def area(self, ctx: restate.Context, box: Box) -> float:
        return box["width"] * box["height"]

    async def shout(self, ctx: restate.Context, label: Label) -> Label:
        return Label(text=label.text.upper(), size=label.size * 2)

    async def total(self, ctx: restate.Context, values: list[int]) -> int:
        return sum(values)

    async def maybe(self, ctx: restate.Context, value: int | None) -> str:
        return "nothing" if value is None else str(value)

    async def nothing(self, ctx: restate.Context) -> None:
        return None

    async def unencodable(self, ctx: restate.Context) -> object:
        return object()
