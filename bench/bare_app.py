"""The same handler as bench/echo, on the bare Restate SDK: the baseline (and a twin as a noise control)."""

import restate


def echo_service(name: str) -> restate.Service:
    service = restate.Service(name)

    @service.handler()
    async def echo(ctx: restate.Context, name: str) -> str:
        return f"Hello, {name}!"

    return service


app = restate.app([echo_service("BareEcho")])
control = restate.app([echo_service("BareEchoControl")])
