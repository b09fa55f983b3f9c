import restate

from django_restate import Service


class Mailer(Service):
    async def send(self, ctx: restate.Context, to: str) -> None: ...
