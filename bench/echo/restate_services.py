"""The benchmark's handler, as a django_restate class (see bench/bare_app.py for the bare-SDK twin)."""

import restate

from django_restate import Service


class DjangoEcho(Service):
    async def echo(self, ctx: restate.Context, name: str) -> str:
        return f"Hello, {name}!"
