"""The parity suite: every test here runs twice, against the mock ([mock]) and against a real
restate-server through the project's ASGI endpoint ([real]), with the same assertions.

Each module marks its tests ``restate_parity`` (one run per backend) and turns on the mock's
replay check, so every scenario is also checked for determinism."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from django_restate.testing.backend import RestateTestBackend


@pytest.fixture
def key() -> str:
    """Restate's state outlives a test on the real server: every test gets fresh keys."""
    return uuid.uuid4().hex[:12]


def awakeable_of(backend: RestateTestBackend, cls: Any, key: str) -> str:
    """The awakeable id a handler stored in its state before waiting on it."""

    def stored() -> str:
        awakeable_id = backend.state(cls, key).get("awakeable")
        assert awakeable_id, "the handler has not created its awakeable yet"
        return str(awakeable_id)

    return backend.eventually(stored)
