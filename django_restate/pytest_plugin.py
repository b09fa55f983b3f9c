"""pytest plugin for projects that use django_restate.

Registered through the ``pytest11`` entry point, so installing django-restate
makes these fixtures available. Django is imported lazily, inside fixtures, so
the plugin costs nothing in projects that do not use it.

Fixtures
--------
``restate_server`` (session)
    A real ``restate-server`` on free loopback ports with its own data dir. The
    binary is found through ``$RESTATE_SERVER_BIN``, ``node_modules/.bin`` or
    ``PATH``; when it is missing the test errors with how to install it.
``restate_live_server`` (session)
    The project's ASGI application (``settings.ASGI_APPLICATION``) served by
    uvicorn in a thread, registered with ``restate_server``.
``restate_live`` (function, needs the database)
    ``restate_live_server`` plus a transactional test database and the
    ``RESTATE`` setting pointed at the test server. Returns a :class:`LiveRestate`.
    Restate's own state outlives a test: use unique keys per test.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .admin_api import AdminAPI
    from .testing.live import LiveASGIServer
    from .testing.server import RestateServer


@dataclass
class LiveRestate:
    """What ``restate_live`` gives a test."""

    server: RestateServer
    django: LiveASGIServer
    admin: AdminAPI

    @property
    def ingress_url(self) -> str:
        return self.server.ingress_url

    @property
    def deployment_url(self) -> str:
        return self.django.url + "/restate"

    def settings(self) -> dict[str, Any]:
        """The ``RESTATE`` setting that points this project at the test server."""
        from django.conf import settings

        return {
            **getattr(settings, "RESTATE", {}),
            "ADMIN_URL": self.server.admin_url,
            "INGRESS_URL": self.server.ingress_url,
            "DEPLOYMENT_URL": self.deployment_url,
        }


@pytest.fixture(scope="session")
def restate_server() -> Iterator[RestateServer]:
    """A real restate-server for the whole test session."""
    from .testing.server import RestateServer, RestateServerNotFound

    try:
        server = RestateServer()
    except RestateServerNotFound as exc:
        raise pytest.UsageError(str(exc)) from None
    with server:
        yield server


@pytest.fixture(scope="session")
def restate_live_server(restate_server: RestateServer, django_db_setup: Any) -> Iterator[LiveASGIServer]:
    """The project's ASGI application, served in a thread and registered with ``restate_server``."""
    from django.conf import settings
    from django.utils.module_loading import import_string

    from .admin_api import AdminAPI
    from .registration import register
    from .testing.live import LiveASGIServer

    path = getattr(settings, "ASGI_APPLICATION", None)
    if not path:
        raise pytest.UsageError("restate_live_server needs settings.ASGI_APPLICATION to point at your ASGI app.")
    with LiveASGIServer(import_string(path), "uvicorn") as live:
        with AdminAPI(restate_server.admin_url) as admin:
            register(admin, live.url + "/restate")
        yield live


@pytest.fixture
def restate_live(
    restate_server: RestateServer, restate_live_server: LiveASGIServer, transactional_db: Any
) -> Iterator[LiveRestate]:
    """A registered, served project and a real Restate server, with RESTATE pointed at them."""
    from django.test import override_settings

    from .admin_api import AdminAPI

    with AdminAPI(restate_server.admin_url) as admin:
        live = LiveRestate(server=restate_server, django=restate_live_server, admin=admin)
        with override_settings(RESTATE=live.settings()):
            yield live
