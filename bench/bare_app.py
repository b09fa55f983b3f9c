"""The same handler as bench/echo, on the bare Restate SDK: the baseline."""

import restate

bare = restate.Service("BareEcho")


@bare.handler()
async def echo(ctx: restate.Context, name: str) -> str:
    return f"Hello, {name}!"


app = restate.app([bare])
