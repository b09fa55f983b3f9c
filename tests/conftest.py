"""Shared fixtures. The django_restate pytest plugin provides restate_server / restate_live."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from django_restate.registry import registry


@pytest.fixture
def isolated_registry() -> Iterator[None]:
    """Let a test register or discover classes without leaking them into other tests."""
    snapshot = registry.snapshot()
    try:
        yield
    finally:
        registry.restore(snapshot)


@pytest.fixture
def fake_apps(monkeypatch: pytest.MonkeyPatch):
    """Pretend the installed apps are exactly the given packages, for autodiscovery tests."""
    import importlib

    from django.apps import apps

    def install(*names: str) -> None:
        configs = [SimpleNamespace(name=n, module=importlib.import_module(n)) for n in names]
        monkeypatch.setattr(apps, "get_app_configs", lambda: configs)

    return install
