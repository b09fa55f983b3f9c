"""Services written exactly as the Restate Python SDK's README and examples write them.

Nothing here knows about django_restate: autodiscovery finds the module-level service objects.
"""

# ruff: noqa: ANN201, ARG001

from datetime import timedelta

import restate
from pydantic import BaseModel
from restate import (
    Context,
    ObjectContext,
    ObjectSharedContext,
    Service,
    VirtualObject,
    Workflow,
    WorkflowContext,
    WorkflowSharedContext,
)

# -- greeter.py (the SDK's README example) -------------------------------------------------------

greeter = Service("greeter")


@greeter.handler()
async def greet(ctx: Context, name: str) -> str:
    return f"Hello {name}!"


app = restate.app(services=[greeter])  # what an SDK project serves on its own; ignored here


# -- pydantic_greeter.py ----------------------------------------------------------------------


class GreetingRequest(BaseModel):
    name: str


class Greeting(BaseModel):
    message: str


pydantic_greeter = Service("pydantic_greeter")


@pydantic_greeter.handler()
async def greet_model(ctx: Context, req: GreetingRequest) -> Greeting:
    return Greeting(message=f"Hello {req.name}!")


@pydantic_greeter.handler("relay")
async def relay(ctx: Context, name: str) -> str:
    """Calls another SDK handler by function reference, as SDK code does."""
    return await ctx.service_call(greet, arg=name)


# -- virtual_object.py ------------------------------------------------------------------------

counter = VirtualObject("counter", inactivity_timeout=timedelta(minutes=1))


@counter.handler()
async def increment(ctx: ObjectContext, value: int) -> int:
    n = await ctx.get("counter", type_hint=int) or 0
    n += value
    ctx.set("counter", n)
    return n


@counter.handler(kind="shared")
async def count(ctx: ObjectSharedContext) -> int:
    return await ctx.get("counter", type_hint=int) or 0


# -- workflow.py ------------------------------------------------------------------------------

payment = Workflow("payment")


@payment.main()
async def pay(ctx: WorkflowContext, amount: int):
    ctx.set("status", "verifying payment")
    result = await ctx.promise("verify.payment", type_hint=str).value()
    ctx.set("status", "payment verified")
    return f"{result}: {amount}"


@payment.handler()
async def payment_verified(ctx: WorkflowSharedContext, result: str):
    promise = ctx.promise("verify.payment", type_hint=str)
    await promise.resolve(result)


@payment.handler()
async def status(ctx: WorkflowSharedContext) -> str:
    return await ctx.get("status", type_hint=str) or "unknown"
