"""Handler discovery follows restate.Reflect; wrong shapes are ImproperlyConfigured with a fix."""

from __future__ import annotations

import dataclasses
import typing
from datetime import timedelta

import pytest
import restate
from django.core.exceptions import ImproperlyConfigured
from pydantic import BaseModel

from django_restate import Service, VirtualObject, Workflow, handler
from django_restate.reflect import NO_INPUT, reflect


class Item(BaseModel):
    sku: str


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Counter(VirtualObject):
    """Counts things, per key."""

    class Meta:
        inactivity_timeout = timedelta(seconds=30)

    async def add(self, ctx: restate.ObjectContext, amount: int) -> int:
        return amount

    async def get(self, ctx: restate.ObjectSharedContext) -> int:
        return 0

    async def helper(self, value: int) -> int:  # not a handler: no context
        return value

    def _private(self, ctx: restate.ObjectContext) -> None: ...


def test_kinds_come_from_annotations():
    spec = reflect(Counter)
    assert spec.name == "Counter"
    assert spec.kind == "object"
    assert {h.name: h.kind for h in spec.handlers} == {"add": "exclusive", "get": "shared"}
    assert spec.doc == "Counts things, per key."
    assert spec.options == {"inactivity_timeout": timedelta(seconds=30)}
    add = spec.handler("add")
    assert add.input_type is int and add.output_type is int
    assert spec.handler("get").input_type is NO_INPUT


def test_name_and_handler_options():
    class Mailer(Service):
        class Meta:
            name = "mail"

        @handler(name="deliver", ingress_private=True)
        async def send(self, ctx: restate.Context, item: Item) -> None: ...

    spec = reflect(Mailer)
    assert spec.name == "mail"
    only = spec.handlers[0]
    assert (only.name, only.attr, only.kind, only.input_type) == ("deliver", "send", None, Item)
    assert only.options == {"ingress_private": True}


def test_workflow_main_and_shared():
    class Signup(Workflow):
        async def run(self, ctx: restate.WorkflowContext, email: str) -> bool:
            return True

        async def confirm(self, ctx: restate.WorkflowSharedContext, code: str) -> None: ...

    assert {h.name: h.kind for h in reflect(Signup).handlers} == {"run": "workflow", "confirm": "shared"}


def test_inherited_handlers_and_abstract_bases():
    class Base(VirtualObject):
        class Meta:
            abstract = True

        async def ping(self, ctx: restate.ObjectSharedContext) -> str:
            return "base"

    class Child(Base):
        async def ping(self, ctx: restate.ObjectSharedContext) -> str:
            return "child"

        async def touch(self, ctx: restate.ObjectContext, point: Point) -> None: ...

    assert Base._meta.abstract and not Child._meta.abstract
    spec = reflect(Child)
    assert [h.name for h in spec.handlers] == ["ping", "touch"]
    assert spec.handler("touch").input_type is Point


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "class Bad(Service):\n    def go(self, ctx: restate.Context) -> None: ...",
            "Handler tests.test_reflect.Bad.go must be `async def`",
        ),
        (
            "class Bad(Service):\n    async def go(self, ctx: restate.ObjectContext) -> None: ...",
            "Bad.go takes restate.ObjectContext, which a Service cannot have: annotate it with restate.Context",
        ),
        (
            "class Bad(VirtualObject):\n    async def go(self, ctx: restate.Context) -> None: ...",
            "which a VirtualObject cannot have",
        ),
        (
            "class Bad(Workflow):\n"
            "    async def one(self, ctx: restate.WorkflowContext) -> None: ...\n"
            "    async def two(self, ctx: restate.WorkflowContext) -> None: ...",
            "must have exactly one handler taking restate.WorkflowContext (found: one, two)",
        ),
        (
            "class Bad(Workflow):\n    async def peek(self, ctx: restate.WorkflowSharedContext) -> None: ...",
            "(found: none)",
        ),
        ("class Bad(Service):\n    async def helper(self) -> None: ...", "has no handlers"),
        (
            "class Bad(Service):\n    async def go(self, ctx: restate.Context, a: int, b: int) -> None: ...",
            "takes 2 inputs; a handler takes the context and at most one input",
        ),
        (
            "class Bad(Service):\n    @handler(retries=3)\n    async def go(self, ctx: restate.Context) -> None: ...",
            "got unknown option(s) retries",
        ),
        (
            "class Bad(Service):\n    @handler\n    async def go(self, value: int) -> None: ...",
            "is marked @handler but its first parameter is not a Restate context",
        ),
        (
            "class Bad(Service):\n    async def go(self, ctx: restate.Context, v: 'Missing') -> None: ...",
            "Cannot read the annotations of tests.test_reflect.Bad.go",
        ),
        (
            "class Bad(Service):\n"
            "    async def go(self, ctx: restate.Context) -> None: ...\n"
            "    @handler(name='go')\n"
            "    async def other(self, ctx: restate.Context) -> None: ...",
            "has two handlers named 'go'",
        ),
    ],
    ids=[
        "sync",
        "object-ctx-on-service",
        "service-ctx-on-object",
        "two-workflow-mains",
        "no-workflow-main",
        "no-handlers",
        "two-inputs",
        "unknown-option",
        "handler-without-context",
        "unresolvable-annotation",
        "duplicate-handler-name",
    ],
)
def test_wrong_shapes_name_the_class_method_and_fix(source, message):
    namespace = {
        "restate": restate,
        "Service": Service,
        "VirtualObject": VirtualObject,
        "Workflow": Workflow,
        "handler": handler,
        "__name__": __name__,
    }
    exec(source, namespace)
    with pytest.raises(ImproperlyConfigured) as exc:
        reflect(namespace["Bad"])
    assert message in str(exc.value)


class LegacyBox(typing.TypedDict):  # typing.TypedDict: pydantic refuses it on Python < 3.12, we convert it
    width: float


class Opaque:
    """A plain class: pydantic has no schema for it."""


def test_types_pydantic_cannot_handle_are_named_at_startup():
    class Shapes(Service):
        async def area(self, ctx: restate.Context, box: Opaque) -> float:
            return 0.0

    expected = r"The input type of tests\.test_reflect\..*Shapes\.area cannot be used as JSON"
    with pytest.raises(ImproperlyConfigured, match=expected):
        reflect(Shapes)


def test_typing_typeddict_works_on_every_supported_python():
    class Shapes(Service):
        async def area(self, ctx: restate.Context, box: LegacyBox) -> list[LegacyBox]:
            return [box]

    handler = reflect(Shapes).handlers[0]
    encode, decode = handler.serdes
    assert encode.deserialize(b'{"width": 2}') == {"width": 2.0}
    assert decode.serialize([{"width": 1.5}]) == b'[{"width":1.5}]'


def test_spec_vocabulary_kinds_types_labels_serdes():
    class Order(Workflow):
        async def run(self, ctx: restate.WorkflowContext, item: Item) -> int:
            return 1

        async def peek(self, ctx: restate.WorkflowSharedContext) -> str:
            return ""

    class Ping(Service):
        async def ping(self, ctx: restate.Context) -> None: ...

    order, counter, ping = reflect(Order), reflect(Counter), reflect(Ping)
    assert (order.sdk_type, counter.sdk_type, ping.sdk_type) == ("Workflow", "VirtualObject", "Service")
    assert {h.name: (h.context_kind, h.sdk_type) for h in order.handlers} == {
        "run": ("workflow", "Workflow"),
        "peek": ("workflow_shared", "Shared"),
    }
    assert {h.name: (h.context_kind, h.sdk_type) for h in counter.handlers} == {
        "add": ("exclusive", "Exclusive"),
        "get": ("shared", "Shared"),
    }
    assert (ping.handlers[0].context_kind, ping.handlers[0].sdk_type) == ("service", None)
    assert counter.target("alice", "add") == "Counter/alice/add"
    assert counter.target("a/b", counter.handler("get")) == "Counter/a/b/get"
    assert ping.target(None, "ping") == ping.target("", "ping") == "Ping/ping"
    assert order.target("o-1", "run") == "Order/o-1/run"
    run = order.handler("run")
    encode, decode = run.serdes
    assert run.serdes is run.serdes  # worked out once per handler
    assert encode.serialize(Item(sku="x")) == b'{"sku":"x"}'
    assert decode.deserialize(b"3") == 3


def test_serdes_are_the_users_when_handler_sets_them():
    from restate.serde import BytesSerde

    class Raw(Service):
        @handler(input_serde=BytesSerde(), output_serde=BytesSerde())
        async def echo(self, ctx: restate.Context, data: bytes) -> bytes:
            return data

    encode, decode = reflect(Raw).handlers[0].serdes
    assert isinstance(encode, BytesSerde) and isinstance(decode, BytesSerde)


def test_serde_module_is_a_leaf():
    import ast
    import pathlib

    import django_restate.serde as serde

    tree = ast.parse(pathlib.Path(serde.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not any(m and (m.startswith("django_restate") or m.startswith(".")) for m in imported)
    assert all(n.level == 0 for n in ast.walk(tree) if isinstance(n, ast.ImportFrom))


# -- options in class Meta: handler methods may have any name ----------------------------------


def test_handlers_may_be_called_like_options():
    class Person(VirtualObject):
        """A person."""

        async def name(self, ctx: restate.ObjectSharedContext) -> str:
            return "Ada"

        async def metadata(self, ctx: restate.ObjectSharedContext) -> dict[str, str]:
            return {}

        async def abstract(self, ctx: restate.ObjectContext) -> None: ...

        async def description(self, ctx: restate.ObjectSharedContext) -> str:
            return ""

    spec = reflect(Person)
    assert spec.name == "Person"
    assert spec.options == {}
    assert spec.doc == "A person."
    assert not Person._meta.abstract
    assert [h.name for h in spec.handlers] == ["name", "metadata", "abstract", "description"]
    assert {h.name: h.kind for h in spec.handlers}["abstract"] == "exclusive"


def test_meta_sets_name_description_and_sdk_options():
    policy = restate.InvocationRetryPolicy(max_attempts=3)

    class Ledger(VirtualObject):
        """The docstring."""

        class Meta:
            name = "Books"
            description = "Kept by Meta."
            metadata = {"team": "money"}
            enable_lazy_state = True
            invocation_retry_policy = policy

        async def name(self, ctx: restate.ObjectSharedContext) -> str:
            return "n"

    spec = reflect(Ledger)
    assert (spec.name, spec.doc) == ("Books", "Kept by Meta.")
    assert spec.options == {"metadata": {"team": "money"}, "enable_lazy_state": True, "invocation_retry_policy": policy}
    assert [h.name for h in spec.handlers] == ["name"]


def test_meta_less_classes_take_their_class_name_and_no_options():
    class Plain(Service):
        async def go(self, ctx: restate.Context) -> None: ...

    assert Plain._meta.name == "Plain" and not Plain._meta.abstract
    assert reflect(Plain).options == {}


def test_abstract_base_meta_is_inherited_but_not_its_name_or_abstract():
    class Base(VirtualObject):
        class Meta:
            abstract = True
            name = "NeverUsed"
            inactivity_timeout = timedelta(seconds=5)
            ingress_private = True

        async def ping(self, ctx: restate.ObjectSharedContext) -> str:
            return "base"

    class Implicit(Base):  # no Meta of its own: the abstract base's options
        pass

    class Extends(Base):
        class Meta(Base.Meta):  # extends the base's Meta explicitly, as in Django
            ingress_private = False

    class Replaces(Base):
        class Meta:  # its own Meta replaces the base's
            name = "Other"

    assert Base._meta.abstract
    implicit, extends, replaces = reflect(Implicit), reflect(Extends), reflect(Replaces)
    assert (implicit.name, implicit.options) == (
        "Implicit",
        {"inactivity_timeout": timedelta(seconds=5), "ingress_private": True},
    )
    assert not Implicit._meta.abstract and not Extends._meta.abstract
    assert (extends.name, extends.options) == (
        "Extends",
        {"inactivity_timeout": timedelta(seconds=5), "ingress_private": False},
    )
    assert (replaces.name, replaces.options) == ("Other", {})


def test_meta_of_a_concrete_base_is_not_inherited():
    class Parent(Service):
        class Meta:
            name = "ParentService"
            ingress_private = True

        async def go(self, ctx: restate.Context) -> None: ...

    class Kid(Parent):
        pass

    assert (reflect(Kid).name, reflect(Kid).options) == ("Kid", {})


def _define(source: str) -> None:
    namespace = {"restate": restate, "Service": Service, "VirtualObject": VirtualObject, "timedelta": timedelta}
    exec(source, namespace)


def test_unknown_meta_option_lists_the_valid_ones():
    with pytest.raises(ImproperlyConfigured) as exc:
        _define(
            "class Bad(Service):\n"
            "    class Meta:\n"
            "        inactivity_timout = timedelta(seconds=1)\n"
            "    async def go(self, ctx: restate.Context) -> None: ..."
        )
    message = str(exc.value)
    assert "Bad.Meta has unknown option(s) inactivity_timout. Valid for a Service: " in message
    assert "Service: abstract, validate_input, name, description, metadata, inactivity_timeout" in message
    assert "inactivity_timeout" in message and "enable_lazy_state" not in message  # a Service has no state


@pytest.mark.parametrize(
    ("attribute", "value"),
    [
        ("name", "'mail'"),
        ("abstract", "True"),
        ("metadata", "{'team': 'x'}"),
        ("inactivity_timeout", "timedelta(seconds=1)"),
        ("description", "'text'"),
        ("enable_lazy_state", "True"),
    ],
)
def test_old_class_attributes_are_refused_with_the_meta_spelling(attribute, value):
    with pytest.raises(ImproperlyConfigured) as exc:
        _define(
            f"class Old(VirtualObject):\n    {attribute} = {value}\n"
            "    async def go(self, ctx: restate.ObjectContext) -> None: ..."
        )
    message = str(exc.value)
    assert f"Old sets `{attribute}` as a class attribute" in message
    assert f"class Meta:\n            {attribute} = " in message


def test_meta_must_be_a_class_and_name_a_string():
    with pytest.raises(ImproperlyConfigured, match="Meta must be a class"):
        _define(
            "class Bad(Service):\n    Meta = {'name': 'x'}\n    async def go(self, ctx: restate.Context) -> None: ..."
        )
    with pytest.raises(ImproperlyConfigured, match="Meta.name must be a non-empty str"):
        _define(
            "class Bad(Service):\n    class Meta:\n        name = 3\n"
            "    async def go(self, ctx: restate.Context) -> None: ..."
        )
