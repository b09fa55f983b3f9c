"""Fixtures for the admin tests: real Restate state made by real invocations of AdminNotebook.

Test modules import the fixtures they use (``from tests.admin_app.fixtures import notebooks``).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import pytest
from django.test import Client

from django_restate.admin_api import AdminAPI, queries
from django_restate.admin_api.sql import quote
from django_restate.pytest_plugin import LiveRestate
from django_restate.testing import eventually

T = TypeVar("T")

SERVICE = "AdminNotebook"


@dataclass
class Notebooks:
    """A real Restate server with this project registered, and a logged-in superuser's client."""

    live: LiveRestate
    client: Client

    @property
    def api(self) -> AdminAPI:
        return self.live.admin

    def key(self, prefix: str = "nb") -> str:
        return f"{prefix}-{uuid.uuid4().hex[:12]}"

    def call(self, key: str, handler: str, body: Any) -> Any:
        response = httpx.post(f"{self.live.ingress_url}/{SERVICE}/{key}/{handler}", json=body, timeout=30)
        response.raise_for_status()
        return response.json() if response.content else None

    def send(self, key: str, handler: str, body: Any) -> str:
        """Start an invocation without waiting for it; its id."""
        response = httpx.post(f"{self.live.ingress_url}/{SERVICE}/{key}/{handler}/send", json=body, timeout=30)
        response.raise_for_status()
        return str(response.json()["invocationId"])

    def write(self, key: str, **entries: Any) -> None:
        self.call(key, "write", entries)

    def write_bytes(self, key: str, **entries: bytes) -> None:
        self.call(key, "write_bytes", {k: base64.b64encode(v).decode() for k, v in entries.items()})

    def state(self, key: str) -> dict[str, bytes]:
        return queries.state(self.api, SERVICE, key)

    def invocation(self, invocation_id: str) -> dict[str, Any]:
        rows = self.api.query(f"SELECT * FROM sys_invocation WHERE id = {quote(invocation_id)}")
        return rows[0] if rows else {}

    def wait_for_status(self, invocation_id: str, *statuses: str, timeout: float = 30) -> dict[str, Any]:
        def reached() -> dict[str, Any]:
            row = self.invocation(invocation_id)
            assert row.get("status") in statuses, f"{invocation_id} is {row.get('status')!r}, not one of {statuses}"
            return row

        return eventually(reached, timeout)

    def instance_url(self, key: str) -> str:
        return f"/admin/django_restate/state/instance/?service={SERVICE}&key={key}"


@pytest.fixture
def notebooks(restate_live: LiveRestate, admin_client: Client) -> Iterator[Notebooks]:
    yield Notebooks(live=restate_live, client=admin_client)


def until_truthy(probe: Callable[[], T | None], timeout: float = 30) -> T:
    """:func:`~django_restate.testing.eventually` for a probe that returns something truthy once
    ready (a row, a list): returns it."""

    def ready() -> T:
        value = probe()
        assert value, f"{probe} still returns {value!r}"
        return value

    return eventually(ready, timeout)
