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
``restate_live_server`` (session, needs pytest-django)
    The project's ASGI application (``settings.ASGI_APPLICATION``) served by
    uvicorn in a thread, registered with ``restate_server`` at ``ENDPOINT_PATH``.
``restate_live`` (function, needs pytest-django and the database)
    ``restate_live_server`` plus a transactional test database and the
    ``RESTATE`` setting pointed at the test server. Returns a :class:`LiveRestate`.
    Invocations the test started and left unfinished (a delayed send, a handler still retrying)
    are killed when it ends, so none runs into a later test's database; set
    ``restate_live.keep_invocations = True`` to leave them. Restate's K/V state outlives a test:
    use unique keys per test.
``restate_mock`` (function, needs pytest-django and the database)
    A :class:`~django_restate.testing.harness.MockRestate`: handler classes run
    in-process, state in the ORM (``INSTALLED_APPS += ["django_restate.testing"]``),
    inside the test's transaction. While it is active the project's
    ``django_restate.client.client`` talks to it, so views under test call the mock. Options come from
    ``@pytest.mark.restate_mock(replay_check=True, max_attempts=..., start_time=...)``;
    ``--restate-replay-check`` (or the ini option ``restate_replay_check``) turns the
    replay check on for every test, and starts ``restate_server`` in always-replay mode.
``restate_backend`` (function)
    The same test against the mock and against a real server: a test that uses it runs
    once per backend (``[mock]`` / ``[real]``), getting a ``MockRestate`` or a
    :class:`~django_restate.testing.real.RealRestate` with the same API. Narrow it with
    ``@pytest.mark.restate_parity(backends=["mock"])`` or ``--restate-backend=mock``.

Markers
-------
``restate_parity(backends=("mock", "real"))``
    Run the test once per backend through the ``restate_backend`` fixture.
``restate_mock(replay_check=False, max_attempts=5, start_time=None)``
    Options of the ``restate_mock`` fixture for this test (``mock_options`` in
    ``django_restate.testing.options`` holds them and their defaults).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from .testing import options as mock_marker

if TYPE_CHECKING:
    from .admin_api import AdminAPI
    from .testing.backend import RestateTestBackend
    from .testing.cluster import RestateCluster
    from .testing.harness import MockRestate
    from .testing.live import LiveASGIServer
    from .testing.server import RestateServer


@dataclass
class LiveRestate:
    """What ``restate_live`` gives a test."""

    server: RestateServer
    django: LiveASGIServer
    admin: AdminAPI
    #: Leave the invocations this test started and did not finish running after it (killed by default).
    keep_invocations: bool = False

    def unfinished_invocations(self) -> set[str]:
        """The ids of the server's invocations that have not completed (scheduled, running, retrying...)."""
        rows = self.admin.query("SELECT id FROM sys_invocation WHERE status != 'completed'")
        return {row["id"] for row in rows}

    def kill_invocations_since(self, before: set[str]) -> list[str]:
        """Kill the unfinished invocations that are not in ``before``; their ids."""
        from .exceptions import AdminAPIError

        killed = []
        for invocation_id in sorted(self.unfinished_invocations() - before):
            try:
                self.admin.invocation_action(invocation_id, "kill")
            except AdminAPIError:  # it finished meanwhile
                continue
            killed.append(invocation_id)
        return killed

    @property
    def ingress_url(self) -> str:
        return self.server.ingress_url

    @property
    def deployment_url(self) -> str:
        return deployment_url(self.django.url)

    def settings(self) -> dict[str, Any]:
        """The ``RESTATE`` setting that points this project at the test server."""
        from django.conf import settings

        return {
            **getattr(settings, "RESTATE", {}),
            "ADMIN_URL": self.server.admin_url,
            "INGRESS_URL": self.server.ingress_url,
            "DEPLOYMENT_URL": self.deployment_url,
        }


def deployment_url(base_url: str) -> str:
    """Where the project served at ``base_url`` answers Restate: its ``ENDPOINT_PATH``."""
    from .asgi import normalise_prefix
    from .conf import restate_settings

    return base_url + normalise_prefix(restate_settings.ENDPOINT_PATH).rstrip("/")


class WithoutPytestDjango:
    """Stand-ins for the pytest-django fixtures ours build on, registered only when pytest-django is
    not installed, so that using ours ends in a UsageError that says what to install."""

    @staticmethod
    def _missing(name: str) -> pytest.UsageError:
        return pytest.UsageError(
            f"restate_mock, restate_live and restate_live_server need pytest-django (for its {name} "
            "fixture): pip install pytest-django (or django-restate[test]) and set DJANGO_SETTINGS_MODULE."
        )

    @pytest.fixture(scope="session")
    def django_db_setup(self) -> None:
        raise self._missing("django_db_setup")

    @pytest.fixture
    def db(self) -> None:
        raise self._missing("db")

    @pytest.fixture
    def transactional_db(self) -> None:
        raise self._missing("transactional_db")


@pytest.fixture(scope="session")
def restate_server(request: pytest.FixtureRequest) -> Iterator[RestateServer]:
    """A real restate-server for the whole test session; in always-replay mode with
    ``--restate-replay-check``, so the ``[real]`` runs check determinism too."""
    from .testing.server import RestateServer, RestateServerNotFound

    try:
        server = RestateServer(always_replay=_replay_check(request.config))
    except RestateServerNotFound as exc:
        raise pytest.UsageError(str(exc)) from None
    with server:
        yield server


@pytest.fixture(scope="session")
def restate_cluster() -> Iterator[RestateCluster]:
    """A real three-node Restate cluster (replication 2) for the whole test session.

    Its nodes can be killed and restarted (``restate_cluster.kill(1)``, ``.restart(1)``); a test
    that kills one should restart it before it ends.
    """
    from .testing.cluster import RestateCluster
    from .testing.server import RestateServerNotFound

    try:
        cluster = RestateCluster(nodes=3, replication=2)
    except RestateServerNotFound as exc:
        raise pytest.UsageError(str(exc)) from None
    with cluster:
        yield cluster


@pytest.fixture(scope="session")
def restate_live_server(django_db_setup: Any, restate_server: RestateServer) -> Iterator[LiveASGIServer]:
    """The project's ASGI application, served in a thread and registered with ``restate_server``."""
    # django_db_setup first: without pytest-django that is the UsageError, before a server starts.
    from django.conf import settings
    from django.utils.module_loading import import_string

    from .admin_api import AdminAPI
    from .deployments import register
    from .testing.live import LiveASGIServer

    path = getattr(settings, "ASGI_APPLICATION", None)
    if not path:
        raise pytest.UsageError("restate_live_server needs settings.ASGI_APPLICATION to point at your ASGI app.")
    with LiveASGIServer(import_string(path), "uvicorn") as live:
        with AdminAPI(restate_server.admin_url) as admin:
            register(admin, deployment_url(live.url))
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
        before = live.unfinished_invocations()
        with override_settings(RESTATE=live.settings()):
            yield live
        if not live.keep_invocations:
            _kill_leftovers(live, before)


def _kill_leftovers(live: LiveRestate, before: set[str]) -> None:
    """Kill what the test left running, or warn that it could not (the server stopped by the test)."""
    import warnings

    from .exceptions import RestateError

    try:
        live.kill_invocations_since(before)
    except RestateError as exc:
        warnings.warn(f"restate_live could not kill the invocations this test left: {exc}", stacklevel=1)


# -- the mock, and one test against both backends --------------------------------------------

BACKENDS = ("mock", "real")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("django_restate", "django-restate")
    group.addoption(
        "--restate-backend",
        default="both",
        help="Backends for tests that use restate_backend: mock, real or both (default).",
    )
    group.addoption(
        "--restate-replay-check",
        action="store_true",
        default=None,
        help="Run every handler a second time against its journal in restate_mock, and start restate_server "
        "in always-replay mode (non-determinism check).",
    )
    parser.addini("restate_replay_check", type="bool", default=False, help="Default of --restate-replay-check.")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "restate_parity(backends=('mock', 'real')): run the test once per backend through the restate_backend fixture",
    )
    config.addinivalue_line(
        "markers",
        f"restate_mock{mock_marker.signature()}: options of the restate_mock fixture",
    )
    if not config.pluginmanager.hasplugin("django"):
        config.pluginmanager.register(WithoutPytestDjango(), "django_restate_without_pytest_django")
    chosen = config.getoption("--restate-backend")
    if chosen not in (*BACKENDS, "both"):
        raise pytest.UsageError(f"--restate-backend must be mock, real or both, not {chosen!r}.")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("restate_parity")
    if "restate_backend" not in metafunc.fixturenames:
        if marker is not None:
            raise pytest.UsageError(
                f"{metafunc.definition.nodeid} is marked restate_parity but does not use the restate_backend "
                "fixture: take restate_backend as an argument and drive handlers through it."
            )
        return
    backends = _parity_backends(marker, metafunc.definition.nodeid)
    chosen = metafunc.config.getoption("--restate-backend")
    if chosen != "both":
        backends = [b for b in backends if b == chosen]
    metafunc.parametrize("restate_backend", backends, indirect=True, ids=backends)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give every run of a ``restate_backend`` test its database, as pytest-django sets databases up
    from markers: the mock's run rolls back with the test, the real server's run is transactional
    (the server's calls into Django use their own connections)."""
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if "restate_backend" in params and item.get_closest_marker("django_db") is None:
            item.add_marker(pytest.mark.django_db(transaction=params["restate_backend"] == "real"))


def _parity_backends(marker: pytest.Mark | None, nodeid: str) -> list[str]:
    if marker is None:
        return list(BACKENDS)
    if marker.args or set(marker.kwargs) - {"backends"}:
        raise pytest.UsageError(
            f'{nodeid}: write @pytest.mark.restate_parity or @pytest.mark.restate_parity(backends=["mock"]).'
        )
    backends = list(marker.kwargs.get("backends", BACKENDS))
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown or not backends:
        raise pytest.UsageError(f"{nodeid}: restate_parity backends must be among mock and real, not {backends!r}.")
    return backends


@pytest.fixture
def restate_mock(request: pytest.FixtureRequest, db: None) -> Iterator[MockRestate]:
    """Handler classes run in-process by the mock, with state in the test database (rolled back
    after the test, or flushed with ``transactional_db``)."""
    from django.conf import settings

    from .client import client
    from .testing.harness import MockRestate

    if "django_restate.testing" not in settings.INSTALLED_APPS:
        raise pytest.UsageError(
            'restate_mock keeps Restate state in the ORM: add "django_restate.testing" to INSTALLED_APPS '
            "in your test settings (it has its own tables, so production never gets them)."
        )
    marker = request.node.get_closest_marker("restate_mock")
    options = _mock_options(marker, request.node.nodeid)
    if marker is None or not (marker.args or "replay_check" in marker.kwargs):
        options["replay_check"] = _replay_check(request.config)
    mock = MockRestate(**options)
    try:
        with client.using(mock):  # the project's client, in the code under test, runs against the mock
            yield mock
    finally:
        mock.close()


def _replay_check(config: pytest.Config) -> bool:
    """``--restate-replay-check``, else the ini option ``restate_replay_check``."""
    flag = config.getoption("--restate-replay-check")
    return bool(flag if flag is not None else config.getini("restate_replay_check"))


def _mock_options(marker: pytest.Mark | None, nodeid: str) -> dict[str, Any]:
    """The marker's options with the defaults filled in, checked by calling the signature function
    with them (pytest-django's ``_django_db_signature`` trick): Python names what is wrong."""
    if marker is None:
        return mock_marker.mock_options()
    try:
        return mock_marker.mock_options(*marker.args, **marker.kwargs)
    except TypeError as exc:
        known = inspect.signature(mock_marker.mock_options).parameters
        unknown = sorted(set(marker.kwargs) - set(known))
        raise pytest.UsageError(
            f"{nodeid}: restate_mock does not take {', '.join(unknown) if unknown else exc}; "
            f"its options are {', '.join(known)}: @pytest.mark.restate_mock{mock_marker.signature()}."
        ) from None


@pytest.fixture
def restate_backend(request: pytest.FixtureRequest) -> Iterator[RestateTestBackend]:
    """The mock or a real restate-server, one per run of the test (see ``restate_parity``)."""
    name = getattr(request, "param", None)
    if name is None:
        raise pytest.UsageError("restate_backend is parametrised by the plugin; request it as a test argument.")
    if name == "mock":
        yield request.getfixturevalue("restate_mock")
        return
    from .testing.real import RealRestate

    live: LiveRestate = request.getfixturevalue("restate_live")
    real = RealRestate(live.ingress_url, live.server.admin_url)
    try:
        yield real
    finally:
        real.close()
