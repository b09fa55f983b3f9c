"""The registry of handler classes, filled by autodiscovery of ``<app>.restate_services``.

Everything downstream (the endpoint, the admin, the client, the testing
toolkit) reads from here; nothing here knows about them.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Iterable, Iterator
from types import ModuleType
from typing import Any, NamedTuple

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import autodiscover_modules

from .exceptions import RestateError
from .handlers import RestateService
from .reflect import HandlerSpec, SDKService, ServiceSpec, is_sdk_service, reflect, reflect_sdk

DISCOVERY_MODULE = "restate_services"


class AlreadyRegistered(RestateError, ImproperlyConfigured):
    """Two handler classes claim the same Restate service name."""


class NotRegistered(RestateError, LookupError):
    """A service name or class that no installed app defines."""


class Snapshot(NamedTuple):
    """What a registry held at one moment; ``Registry.restore`` puts it back."""

    specs: dict[str, ServiceSpec]
    conflicts: list[AlreadyRegistered]


class Registry:
    def __init__(self) -> None:
        # function -> every (service, handler) whose class has it (inherited ones included),
        # built on first use by for_method and dropped whenever the registry changes.
        self._by_function: dict[Any, list[tuple[ServiceSpec, HandlerSpec]]] | None = None
        self._specs = {}
        # Name clashes found by autodiscovery, reported by the system check django_restate.E006.
        self.conflicts: list[AlreadyRegistered] = []

    @property
    def _specs(self) -> dict[str, ServiceSpec]:
        return self._services

    @_specs.setter
    def _specs(self, specs: dict[str, ServiceSpec]) -> None:
        # Replacing the specs (restore) drops what was derived from them.
        self._services = specs
        self._by_function = None

    def snapshot(self) -> Snapshot:
        """What is registered now, to ``restore()`` later: a test that registers classes, or a
        failed autodiscovery, leaves the registry as it found it."""
        return Snapshot(dict(self._specs), list(self.conflicts))

    def restore(self, snapshot: Snapshot) -> None:
        self._specs, self.conflicts = dict(snapshot.specs), list(snapshot.conflicts)

    def register(self, *services: type[RestateService] | SDKService, module: str | None = None) -> None:
        """Register handler classes, or SDK-style service objects (``restate.Service("Greeter")``
        with ``@greeter.handler()`` functions), by hand; autodiscovery does this for you."""
        for service in services:
            if is_sdk_service(service):
                spec = reflect_sdk(service, module)
                existing = self._specs.get(spec.name)
                if existing is not None and existing.sdk_service is service:
                    continue  # the same object found again (imported into a second module)
            elif inspect.isclass(service) and issubclass(service, RestateService) and not service._meta.abstract:
                spec = reflect(service)
                existing = self._specs.get(spec.name)
                if existing is not None and existing.cls is service:
                    existing = None  # registering a class again refreshes its spec
            else:
                raise ImproperlyConfigured(
                    f"{service!r} is not a concrete subclass of django_restate.Service, VirtualObject or Workflow, "
                    "nor a restate.Service, restate.VirtualObject or restate.Workflow object."
                )
            if existing is not None:
                raise AlreadyRegistered(
                    f"Two services are named {spec.name!r}: {existing.label} and {spec.label}. "
                    'Give one of them another name (in its inner `class Meta: name = "..."`).'
                )
            self._specs[spec.name] = spec
            self._by_function = None

    def unregister(self, *services: type[RestateService] | SDKService) -> None:
        for service in services:
            self._specs.pop(self.get(service).name, None)
        self._by_function = None

    def get(self, target: str | type[RestateService] | SDKService) -> ServiceSpec:
        """The spec of a service by name, by handler class, or by SDK service object."""
        if isinstance(target, str):
            try:
                return self._specs[target]
            except KeyError:
                raise NotRegistered(self._unknown(target)) from None
        for spec in self._specs.values():
            if spec.cls is target or (spec.sdk_service is not None and spec.sdk_service is target):
                return spec
        what = target.name if is_sdk_service(target) else getattr(target, "__qualname__", repr(target))
        raise NotRegistered(self._unknown(what))

    def spec(self, target: str | type[RestateService] | SDKService, kind: str, *, via: str = "client") -> ServiceSpec:
        """The registered spec of a handler class (or service name) that the caller addresses as a
        ``kind`` ("service", "object", "workflow"); the one ``TypeError`` when it is another kind:
        ``Cart is a VirtualObject: address it with client.object(Cart, key)``."""
        spec = self.get(target)
        if spec.kind != kind:
            raise spec.wrong_kind(via)
        return spec

    def served(self, names: Iterable[str] | None = None) -> list[ServiceSpec]:
        """The services one deployment serves: ``names``, else ``RESTATE["SERVICES"]``, else every
        registered service; a name that is not registered is :class:`NotRegistered`."""
        from .conf import restate_settings

        chosen = restate_settings.SERVICES if names is None else names
        if chosen is None:
            return list(self)
        if isinstance(chosen, str):
            raise TypeError(f"A list of service names is needed, not the str {chosen!r}: write [{chosen!r}].")
        return sorted({self.get(name).name: self.get(name) for name in chosen}.values(), key=lambda s: s.name)

    def for_method(self, func: Callable[..., Any]) -> tuple[ServiceSpec, HandlerSpec]:
        """The service and handler that a method names: ``Cart.add_item``, or a bound
        ``Cart().add_item``. An inherited method names the one registered class that has it; one
        that several registered classes inherit is a ``LookupError`` (address one of them by class)."""
        owner = getattr(func, "__self__", None)
        function = getattr(func, "__func__", func)
        found = self._functions().get(function, [])
        if owner is not None and len(found) > 1:  # a bound method says which class it belongs to
            mro = (owner if isinstance(owner, type) else type(owner)).__mro__
            nearest = min((mro.index(s.cls) for s, _ in found if s.cls in mro), default=None)
            if nearest is not None:
                found = [(s, h) for s, h in found if s.cls is mro[nearest]]
        if len(found) > 1:  # an override's own class wins over its subclasses that inherit it
            found = [(s, h) for s, h in found if vars(s.cls).get(h.attr) is function] or found
        if len(found) == 1:
            return found[0]
        name = getattr(function, "__qualname__", repr(function))
        if found:
            services = ", ".join(sorted(s.name for s, _ in found))
            raise LookupError(
                f"{name} is inherited by several services ({services}), so the method alone does not say "
                "which one: address the service by class or by name."
            )
        raise LookupError(
            f"{name} is not a handler of a registered service. Pass a method of a handler class that an "
            f"installed app's {DISCOVERY_MODULE} module defines, e.g. Cart.add_item."
        )

    def _functions(self) -> dict[Any, list[tuple[ServiceSpec, HandlerSpec]]]:
        if self._by_function is None:
            table: dict[Any, list[tuple[ServiceSpec, HandlerSpec]]] = {}
            for spec in self:
                for handler in spec.handlers:
                    table.setdefault(getattr(spec.cls, handler.attr), []).append((spec, handler))
                    if spec.sdk_service is not None:  # the function the SDK's decorator returned
                        table.setdefault(spec.sdk_service.handlers[handler.name].fn, []).append((spec, handler))
            self._by_function = table
        return self._by_function

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
        self._by_function = None

    def register_module(self, module: ModuleType) -> None:
        """Register every concrete handler class defined (not imported) in ``module``, and every
        SDK-style service object (``greeter = restate.Service("Greeter")``) it holds at module level."""
        for _, value in inspect.getmembers(module):
            if is_sdk_service(value):
                found: Any = value
            elif (
                inspect.isclass(value)
                and issubclass(value, RestateService)
                and value.__module__ == module.__name__
                and not value._meta.abstract
            ):
                found = value
            else:
                continue
            try:
                self.register(found, module=module.__name__)
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

    before = registry.snapshot()
    try:
        autodiscover_modules(DISCOVERY_MODULE)
        for app_config in apps.get_app_configs():
            module = sys.modules.get(f"{app_config.name}.{DISCOVERY_MODULE}")
            if module is not None:
                registry.register_module(module)
    except BaseException:
        registry.restore(before)
        raise
