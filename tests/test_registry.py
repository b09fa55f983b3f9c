"""Autodiscovery of <app>.restate_services and the registry's errors."""

from __future__ import annotations

import pytest
import restate
from django.core.exceptions import ImproperlyConfigured

from demo_project.shop.restate_services import Cart, Checkout, Greeter
from django_restate import AlreadyRegistered, NotRegistered, Service, autodiscover, registry


def test_demo_apps_are_discovered():
    names = [s.name for s in registry]
    assert {"Cart", "Checkout", "Greeter"} <= set(names)
    assert names == sorted(names)
    assert registry.get(Cart).cls is Cart
    assert registry.get("Checkout").cls is Checkout


def test_unknown_service_names_what_is_registered():
    with pytest.raises(NotRegistered, match="'Nope' is not a registered Restate service|Nope is not a registered"):
        registry.get("Nope")

    class Stray(Service):
        async def go(self, ctx: restate.Context) -> None: ...

    with pytest.raises(NotRegistered, match="Stray is not a registered Restate service .*registered: .*Greeter"):
        registry.get(Stray)


def test_register_rejects_non_handler_classes(isolated_registry):
    with pytest.raises(ImproperlyConfigured, match="not a concrete subclass"):
        registry.register(int)  # type: ignore[arg-type]
    with pytest.raises(ImproperlyConfigured, match="not a concrete subclass"):
        registry.register(Service)


def test_same_name_twice_is_an_error_naming_both(isolated_registry):
    class Greeter2(Service):
        name = "Greeter"

        async def greet(self, ctx: restate.Context, name: str) -> str:
            return name

    with pytest.raises(AlreadyRegistered) as exc:
        registry.register(Greeter2)
    assert "demo_project.shop.restate_services.Greeter" in str(exc.value)
    assert "Greeter2" in str(exc.value)
    assert registry.get("Greeter").cls is Greeter


def test_failed_import_is_raised_and_rolls_back(isolated_registry, fake_apps):
    before = [s.name for s in registry]
    fake_apps("tests.discovery.clash_a", "tests.discovery.broken")
    with pytest.raises(ModuleNotFoundError, match="a_module_that_does_not_exist"):
        autodiscover()
    assert [s.name for s in registry] == before  # clash_a's Mailer was rolled back too


def test_apps_without_the_module_are_skipped(isolated_registry, fake_apps):
    fake_apps("demo_project", "tests.discovery.clash_a")
    autodiscover()
    assert "Mailer" in registry


def test_clash_across_apps_is_kept_for_the_system_check(isolated_registry, fake_apps):
    from django_restate.checks import check_registry

    fake_apps("tests.discovery.clash_a", "tests.discovery.clash_b")
    autodiscover()
    errors = check_registry()
    assert [e.id for e in errors] == ["django_restate.E006"]
    assert "tests.discovery.clash_a.restate_services.Mailer" in errors[0].msg
    assert "tests.discovery.clash_b.restate_services.Mailer" in errors[0].msg

    from django_restate.endpoint import endpoint_app

    with pytest.raises(AlreadyRegistered):
        endpoint_app()
