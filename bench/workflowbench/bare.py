"""The same workflow on the bare Restate SDK, and an ASGI app that serves it next to Django the
way a project without django-restate would: ``/restate/...`` to ``restate.app``, the rest to
Django's own ASGI handler."""

from __future__ import annotations

from typing import Any

import restate
from django.core.asgi import get_asgi_application

from .steps import crunch, finish_order, insert_order

bare_order = restate.Workflow("BareOrder")


@bare_order.main()
async def run(ctx: restate.WorkflowContext) -> str:
    order_id = ctx.key()
    await ctx.run_typed("insert", insert_order, order_id=order_id)
    digest = await ctx.run_typed("crunch", crunch, order_id=order_id)
    await ctx.run_typed("finish", finish_order, order_id=order_id, digest=digest)
    return digest


def bare_application() -> Any:
    django_app = get_asgi_application()
    restate_app = restate.app([bare_order])

    async def application(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":  # neither app needs one; answer it so servers do not warn
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["path"].startswith("/restate/"):
            await restate_app(scope, receive, send)
        else:
            await django_app(scope, receive, send)

    return application
