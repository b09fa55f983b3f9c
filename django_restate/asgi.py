"""The ASGI application: Django, plus the Restate endpoint under ``ENDPOINT_PATH``.

    # mysite/asgi.py
    from django_restate.asgi import get_asgi_application
    application = get_asgi_application()

Projects that already route with Channels mount the pieces themselves::

    from channels.routing import ProtocolTypeRouter, URLRouter
    from django_restate.asgi import restate_endpoint, restate_urlpattern

    application = ProtocolTypeRouter({
        "http": URLRouter([restate_urlpattern(), re_path(r"", django_asgi_app)]),
        "websocket": ...,
    })
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

import django
from django.core.handlers.asgi import ASGIHandler
from restate._internal import VMException

from .conf import restate_settings
from .request_threads import RequestThreads
from .shutdown import chain_server_shutdown

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class RestateEndpoint:
    """The SDK's endpoint app, made safe to mount inside a larger ASGI application.

    It answers the ``lifespan`` scope (the bare SDK raises on it), keeps the ASGI
    server's SIGTERM handling working, and builds the SDK app lazily, after
    Django has discovered the handler classes.
    """

    def __init__(self, app: ASGIApp | None = None, services: Iterable[str] | None = None) -> None:
        self._app = app
        #: The services this endpoint serves, by name; None: ``RESTATE["SERVICES"]``, else all.
        self.services = None if services is None else list(services)
        self._loops_prepared: set[int] = set()
        install_log_filter()  # the 4xx this endpoint answers for the caller are not this server's errors

    @property
    def sdk_app(self) -> ASGIApp:
        if self._app is None:
            from .endpoint import endpoint_app

            self._app = endpoint_app(names=self.services)
        return self._app

    def prepare_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if id(loop) not in self._loops_prepared:
            chain_server_shutdown(loop)
            self._loops_prepared.add(id(loop))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.prepare_loop()
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        await refuse_protocol_errors(self.sdk_app, scope, receive, send)


class RestateRouter:
    """Sends requests under ``prefix`` to the Restate endpoint, the rest to Django, each Django
    request with a thread of its own for its sync code, reused across requests
    (:mod:`django_restate.request_threads`; ``RESTATE["REUSE_REQUEST_THREADS"]``)."""

    def __init__(self, django_app: ASGIApp, endpoint: RestateEndpoint, prefix: str | None = None) -> None:
        self.django_app = django_app
        self.endpoint = endpoint
        self.prefix = normalise_prefix(prefix if prefix is not None else restate_settings.ENDPOINT_PATH)
        self.request_threads = RequestThreads()

    def is_restate(self, scope: Scope) -> bool:
        path = scope.get("path", "")
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        return bool(path == self.prefix.rstrip("/") or path.startswith(self.prefix))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            self.endpoint.prepare_loop()
            try:
                await lifespan(receive, send)
            finally:
                self.request_threads.close()
        elif scope["type"] == "http" and self.is_restate(scope):
            await self.endpoint(scope, receive, send)
        elif scope["type"] == "http" and restate_settings.REUSE_REQUEST_THREADS:
            async with self.request_threads.request():
                await self.django_app(scope, receive, send)
        else:
            await self.django_app(scope, receive, send)


async def refuse_protocol_errors(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer a request that does not speak Restate's invocation protocol (a browser, a scanner,
    a stray ``curl``) with the 4xx the SDK's VM chose, e.g. 415, instead of an unhandled error's 500."""
    started = False

    async def tracking_send(message: MutableMapping[str, Any]) -> None:
        nonlocal started
        started = started or message["type"] == "http.response.start"
        await send(message)

    try:
        await app(scope, receive, tracking_send)
    except VMException as exc:
        refused = client_error(exc)
        if started or refused is None:
            raise
        status, reason = refused
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": reason.encode()})


def client_error(exc: BaseException | None) -> tuple[int, str] | None:
    """The 4xx status and reason of an SDK protocol error that is the caller's mistake, if it is one."""
    if not isinstance(exc, VMException):
        return None
    found = re.match(r"\((4\d\d)\)\s*(.*)", str(exc), re.S)
    return (int(found[1]), found[2]) if found else None


class AnsweredClientErrors(logging.Filter):
    """Drops the SDK's "Exception in ASGI app" traceback for a request :func:`refuse_protocol_errors`
    answers with a 4xx: a scanner probing ``/restate/invoke`` is not an error of this server."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and client_error(record.exc_info[1]) is not None)


def install_log_filter() -> None:
    """Add :class:`AnsweredClientErrors` to the SDK's ``restate.server`` logger, once. Called when an
    endpoint is built (after Django configured logging), never at import: importing this module
    changes no logging configuration."""
    logger = logging.getLogger("restate.server")
    if not any(isinstance(f, AnsweredClientErrors) for f in logger.filters):
        logger.addFilter(AnsweredClientErrors())


async def lifespan(receive: Receive, send: Send) -> None:
    """Answer the ASGI lifespan protocol: start the outbox relay, and stop it at shutdown."""
    from .outbox.relay import start_relay

    relay = None
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            relay = await start_relay()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if relay is not None:
                await relay.stop()
            await send({"type": "lifespan.shutdown.complete"})
            return


def normalise_prefix(prefix: str) -> str:
    return "/" + prefix.strip("/") + "/"


def restate_endpoint(services: Iterable[str] | None = None) -> RestateEndpoint:
    """The Restate endpoint alone, for projects that compose their own ASGI routing. ``services``
    (names) serves a subset; by default ``RESTATE["SERVICES"]``, else every registered service."""
    return RestateEndpoint(services=services)


def restate_urlpattern(endpoint: RestateEndpoint | None = None) -> Any:
    """A Channels ``URLRouter`` entry that routes ``ENDPOINT_PATH`` to the endpoint."""
    import re

    from django.urls import re_path

    prefix = normalise_prefix(restate_settings.ENDPOINT_PATH).lstrip("/")
    return re_path(rf"^{re.escape(prefix)}", endpoint or restate_endpoint())  # type: ignore[arg-type]


def get_asgi_application(services: Iterable[str] | None = None) -> RestateRouter:
    """Django's ASGI application with the Restate endpoint mounted under ``ENDPOINT_PATH``,
    serving ``services`` (names; by default ``RESTATE["SERVICES"]``, else all registered).

    Like ``django.core.asgi.get_asgi_application``, it sets Django up first, so
    handler classes are discovered before the first request.
    """
    django.setup(set_prefix=False)
    return RestateRouter(ASGIHandler(), restate_endpoint(services))  # type: ignore[arg-type]
