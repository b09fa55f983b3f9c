"""The ASGI application of one side, behind a counter of the requests Restate makes to the
endpoint (``GET /bench/invocations`` reads it)."""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.workflow_settings")


class CountInvocations:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.invocations = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            if "/invoke/" in scope["path"]:
                self.invocations += 1
            elif scope["path"] == "/bench/invocations":
                await send(
                    {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
                )
                await send({"type": "http.response.body", "body": str(self.invocations).encode()})
                return
        await self.app(scope, receive, send)


def _application() -> Any:
    side = os.environ.get("BENCH_WORKFLOW_SIDE", "restate")
    if side == "restate":
        from django_restate.asgi import get_asgi_application

        return get_asgi_application()
    if side == "bare":
        import django

        django.setup()
        from .bare import bare_application

        return bare_application()
    from django.core.asgi import get_asgi_application as django_asgi

    return django_asgi()


application = CountInvocations(_application())
