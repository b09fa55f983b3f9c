"""The workflow as a django-restate ``Workflow`` class (found by autodiscovery)."""

from __future__ import annotations

import restate

from django_restate import Workflow

from .steps import crunch, finish_order, insert_order


class BenchOrder(Workflow):
    async def run(self, ctx: restate.WorkflowContext) -> str:
        order_id = ctx.key()
        await ctx.run_typed("insert", insert_order, order_id=order_id)
        digest = await ctx.run_typed("crunch", crunch, order_id=order_id)
        await ctx.run_typed("finish", finish_order, order_id=order_id, digest=digest)
        return digest
