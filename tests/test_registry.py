"""Autodiscovery of <app>.restate_services and the registry's errors."""

from __future__ import annotations

import pytest
import restate
from django.core.exceptions import ImproperlyConfigured

from demo_project.shop.restate_services import Cart, Checkout, Greeter
from django_restate import AlreadyRegistered, NotRegistered, Service, VirtualObject, autodiscover, registry
from django_restate.registry import Registry


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
        class Meta:
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


# -- the spec vocabulary: one lookup from a method, one wrong-kind error ------------------------


def _registry_of(*classes: type) -> Registry:
    own = Registry()
    own.register(*classes)
    return own


class _Base(VirtualObject):
    class Meta:
        abstract = True

    async def ping(self, ctx: restate.ObjectSharedContext) -> str:
        return "base"


class _OnlyChild(_Base):
    async def touch(self, ctx: restate.ObjectContext) -> None: ...


class _Sibling(_Base):
    async def ping(self, ctx: restate.ObjectSharedContext) -> str:  # overrides
        return "sibling"


class _Twin(_Base):
    async def touch(self, ctx: restate.ObjectContext) -> None: ...


def test_for_method_unbound_and_bound():
    own = _registry_of(Cart, Greeter)
    spec, handler = own.for_method(Cart.add_item)
    assert (spec.cls, handler.attr) == (Cart, "add_item")
    assert own.for_method(Cart().add_item) == (spec, handler)  # a bound method names the same handler


def test_for_method_inherited_by_one_registered_class():
    own = _registry_of(_OnlyChild, _Sibling)
    spec, handler = own.for_method(_Base.ping)  # _Sibling overrides it, so only _OnlyChild has it
    assert (spec.cls, handler.attr) == (_OnlyChild, "ping")
    assert own.for_method(_Sibling.ping)[0].cls is _Sibling


def test_for_method_inherited_by_several_names_them_and_a_bound_method_decides():
    own = _registry_of(_OnlyChild, _Twin)
    with pytest.raises(LookupError, match=r"_Base.ping is inherited by several services \(_OnlyChild, _Twin\)"):
        own.for_method(_Base.ping)
    assert own.for_method(_Twin().ping)[0].cls is _Twin


def test_for_method_of_a_concrete_base_and_its_subclass():
    class Parent(VirtualObject):
        async def ping(self, ctx: restate.ObjectSharedContext) -> str:
            return "parent"

    class Kid(Parent):
        async def other(self, ctx: restate.ObjectContext) -> None: ...

    own = _registry_of(Parent, Kid)
    assert own.for_method(Parent.ping)[0].cls is Parent  # the class that defines it
    assert own.for_method(Kid().ping)[0].cls is Kid  # unless a bound method says otherwise


def test_for_method_of_something_else():
    own = _registry_of(Cart)
    with pytest.raises(LookupError, match="len is not a handler of a registered service"):
        own.for_method(len)
    own.unregister(Cart)
    with pytest.raises(LookupError, match="Cart.add_item is not a handler of a registered service"):
        own.for_method(Cart.add_item)  # the table follows the registry


def test_spec_checks_the_kind_with_one_wording():
    own = _registry_of(Cart, Checkout, Greeter)
    assert own.spec(Cart, "object").cls is Cart
    assert own.spec("Greeter", "service").cls is Greeter
    with pytest.raises(TypeError, match=r"^Cart is a VirtualObject: address it with client.object\(Cart, key\)\.$"):
        own.spec(Cart, "service")
    with pytest.raises(
        TypeError, match=r"Checkout is a Workflow: address it with client.workflow\(Checkout, workflow_id\)"
    ):
        own.spec(Checkout, "object")
    with pytest.raises(TypeError, match=r"Greeter is a Service: address it with restate_mock.service\(Greeter\)"):
        own.spec(Greeter, "object", via="restate_mock")
    with pytest.raises(NotRegistered):
        own.spec("Nope", "service")


def test_restore_puts_back_a_snapshot_and_forgets_lookups_made_since():
    own = Registry()
    own.register(Greeter)
    snapshot = own.snapshot()

    class Later(Service):
        async def hello(self, ctx: restate.Context) -> str:
            return "hi"

    own.register(Later)
    own.conflicts.append(AlreadyRegistered("a clash"))
    assert own.for_method(Later.hello)[0].cls is Later
    own.restore(snapshot)
    assert [s.name for s in own] == ["Greeter"] and own.conflicts == []
    with pytest.raises(LookupError):
        own.for_method(Later.hello)
    own.register(Later)  # the snapshot is a copy: restoring did not share the dict
    assert "Later" not in snapshot.specs
