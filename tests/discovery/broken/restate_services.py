import restate

from django_restate import Service


class Fine(Service):
    async def ping(self, ctx: restate.Context) -> str:
        return "pong"


import a_module_that_does_not_exist  # noqa: E402, F401
