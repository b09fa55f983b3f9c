"""Fixtures of the reliability suite: a restate-server and a Django server of its own, both
killable, sharing the test database with the test process."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from django_restate.admin_api import AdminAPI
from django_restate.deployments import register
from django_restate.testing.server import RestateServer

from .harness import DjangoProcess, db_connection_counter


@pytest.fixture(scope="module")
def restate() -> Iterator[RestateServer]:
    """A restate-server for this module alone: these tests kill and restart it."""
    with RestateServer() as server:
        yield server


@pytest.fixture(scope="module")
def django_server(
    restate: RestateServer, django_db_setup: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DjangoProcess]:
    """The project's ASGI app under uvicorn in a subprocess, registered with ``restate``."""
    from django.db import connection

    log = tmp_path_factory.mktemp("uvicorn") / "uvicorn.log"
    # Stopped at module teardown, before pytest-django drops the test database it is connected to.
    with DjangoProcess(connection.settings_dict["NAME"], log) as process:
        with AdminAPI(restate.admin_url) as admin:
            register(admin, process.deployment_url)
        yield process


@pytest.fixture
def live(django_server: DjangoProcess, restate: RestateServer, transactional_db: Any) -> DjangoProcess:
    """``django_server``, running again if a previous test left it down, with committed test data
    (``transactional_db``) so both processes see the same rows."""
    django_server.ensure_running()
    if restate.process is None or restate.process.poll() is not None:
        restate.start()
    return django_server


@pytest.fixture
def run_id() -> str:
    """A prefix for this test's object keys: Restate state outlives a test."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
def db_connections(django_server: DjangoProcess) -> Iterator[Callable[[], int]]:
    """Count the Django subprocess's database connections (PostgreSQL) or open database files (SQLite)."""
    from django.db import connection

    count, close = db_connection_counter(connection.settings_dict, django_server)
    try:
        yield count
    finally:
        close()
