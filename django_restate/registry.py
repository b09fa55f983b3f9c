"""The registry of handler classes, filled by autodiscovery of ``<app>.restate_services``.

Everything downstream (the endpoint, the admin, the client, the testing
toolkit) reads from here; nothing here knows about them.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Iterator
from types import ModuleType

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import autodiscover_modules

from .handlers import RestateService
from .reflect import ServiceSpec, reflect

DISCOVERY_MODULE = "restate_services"


class AlreadyRegistered(ImproperlyConfigured):
    """Two handler classes claim the same Restate service name."""


class NotRegistered(LookupError):
    """A service name or class that no installed app defines."""


class Registry:
    def __init__(self) -> None:
        self._specs: dict[str, ServiceSpec] = {}
        # Name clashes found by autodiscovery, reported by the system check django_restate.E006.
        self.conflicts: list[AlreadyRegistered] = []

    def register(self, *classes: type[RestateService]) -> None:
        """Register handler classes by hand (autodiscovery does this for you)."""
        for cls in classes:
            if not (inspect.isclass(cls) and issubclass(cls, RestateService)) or cls.abstract:
                raise ImproperlyConfigured(
                    f"{cls!r} is not a concrete subclass of django_restate.Service, VirtualObject or Workflow."
                )
            spec = reflect(cls)
            existing = self._specs.get(spec.name)
            if existing is not None and existing.cls is not cls:
                raise AlreadyRegistered(
                    f"Two classes define the Restate service {spec.name!r}: {existing.label} and {spec.label}. "
                    'Set `name = "..."` on one of them.'
                )
            self._specs[spec.name] = spec

    def unregister(self, *classes: type[RestateService]) -> None:
        for cls in classes:
            self._specs.pop(self.get(cls).name, None)

    def get(self, target: str | type[RestateService]) -> ServiceSpec:
        if isinstance(target, str):
            try:
                return self._specs[target]
            except KeyError:
                raise NotRegistered(self._unknown(target)) from None
        for spec in self._specs.values():
            if spec.cls is target:
                return spec
        raise NotRegistered(self._unknown(getattr(target, "__qualname__", repr(target))))

    def _unknown(self, what: str) -> str:
        known = ", ".join(sorted(self._specs)) or "none"
        return (
            f"{what} is not a registered Restate service (registered: {known}). Define it in the "
            f"{DISCOVERY_MODULE}.py module of an installed app, or call registry.register()."
        )

    def __iter__(self) -> Iterator[ServiceSpec]:
        return iter(sorted(self._specs.values(), key=lambda s: s.name))

    def __len__(self) -> int:
        return len(self._specs)

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def clear(self) -> None:
        self._specs.clear()
        self.conflicts.clear()

    def register_module(self, module: ModuleType) -> None:
        """Register every concrete handler class defined (not imported) in ``module``."""
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, RestateService) and value.__module__ == module.__name__ and not value.abstract:
                try:
                    self.register(value)
                except AlreadyRegistered as exc:
                    self.conflicts.append(exc)


registry = Registry()


def autodiscover() -> None:
    """Import ``<app>.restate_services`` for every installed app and register its classes.

    Like ``django.contrib.admin.autodiscover``: a module that fails to import
    raises its own error, an app without the module is skipped, and a failure
    leaves the registry as it was before.
    """
    from django.apps import apps

    before = (dict(registry._specs), list(registry.conflicts))
    try:
        autodiscover_modules(DISCOVERY_MODULE)
        for app_config in apps.get_app_configs():
            module = sys.modules.get(f"{app_config.name}.{DISCOVERY_MODULE}")
            if module is not None:
                registry.register_module(module)
    except BaseException:
        registry._specs, registry.conflicts = before
        raise
