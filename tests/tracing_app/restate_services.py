"""Handlers for the tracing test: a Service that does async ORM work in its body, a step, and then
calls a Virtual Object whose step is one database transaction."""

from __future__ import annotations

import restate
from restate.exceptions import TerminalError

from django_restate import Service, VirtualObject
from django_restate.runtime import atomic_step
from tests.runtime_app.models import Note


class TracedShop(Service):
    """What the view calls."""

    async def order(self, ctx: restate.Context, key: str) -> int:
        # Outside a step: this query runs again on every replay of the journal, and must be traced once.
        await Note.objects.filter(key=key, via="order-check").aexists()
        await ctx.run_typed("record order", record_order, key=key)
        return await ctx.object_call(TracedStock.reserve, key, "one")


class TracedStock(VirtualObject):
    """What the shop calls."""

    async def reserve(self, ctx: restate.ObjectContext, what: str) -> int:
        return await ctx.run_typed("reserve", reserve, key=ctx.key(), what=what)

    async def refuse(self, ctx: restate.ObjectContext, why: str) -> None:
        raise TerminalError(why, status_code=409)


def record_order(key: str) -> None:
    Note.objects.create(key=key, text="ordered", via="order")


@atomic_step
def reserve(key: str, what: str) -> int:
    Note.objects.create(key=key, text=what, via="reserve")
    return Note.objects.filter(key=key).count()
