"""Decoding what other Restate clients send (issue 14), at the serde: omitted keys, single-value
literals, lazy types, typing.TypedDict on 3.11, parse-only; the user's own classes stay as written."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterable
from typing import Literal, Optional

import pydantic
import pytest
import restate
import typing_extensions
from django.core.exceptions import ImproperlyConfigured
from restate.exceptions import TerminalError

from django_restate import Service, VirtualObject, Workflow, handler
from django_restate.reflect import reflect
from django_restate.serde import ParseOnlySerde, TypedJsonSerde, typed_json


class Request(typing.TypedDict):
    name: str
    key: Optional[str]  # noqa: UP045  (the SDK's test services' spelling)
    delay: int | None
    must: typing.Required[str | None]  # explicitly required: stays so


class Base(typing.TypedDict, total=False):
    extra: int


class Child(Base):
    name: str
    items: list[Request]


@dataclasses.dataclass
class Reading:
    sensor: str
    celsius: float | None
    unit: Literal["C"]
    scale: int = 1


class Circle(pydantic.BaseModel):
    type: Literal["circle"]
    radius: float
    label: str | None
    colour: str | None = "red"  # a default the model gives is kept


class Holder(pydantic.BaseModel):
    circles: list[Circle]


def bad(serde: TypedJsonSerde, body: bytes) -> str:
    with pytest.raises(TerminalError) as exc:
        serde.deserialize(body)
    assert exc.value.status_code == 400
    return str(exc.value)


def test_omitted_keys_whose_type_admits_none_read_as_none_in_a_typeddict():
    serde = typed_json(Request)
    assert serde.deserialize(b'{"name":"n","must":null}') == {"name": "n", "key": None, "delay": None, "must": None}
    assert "must: Field required" in bad(serde, b'{"name":"n"}')
    assert "name: Field required" in bad(serde, b'{"must":"m"}')


def test_total_false_keys_stay_optional_and_absent():
    assert typed_json(Child).deserialize(b'{"name":"x","items":[{"name":"i","must":"m"}]}') == {
        "name": "x",
        "items": [{"name": "i", "key": None, "delay": None, "must": "m"}],  # nested, too
    }


def test_dataclass_and_pydantic_fields_and_defaults():
    assert typed_json(Reading).deserialize(b'{"sensor":"s"}') == Reading("s", None, "C", 1)
    circle = typed_json(Circle).deserialize(b'{"radius":1}')
    assert circle == Circle(type="circle", radius=1, label=None, colour="red")
    assert type(circle) is Circle
    held = typed_json(Holder).deserialize(b'{"circles":[{"radius":2}]}')
    assert held.circles[0].label is None and type(held.circles[0]) is Circle
    assert "radius: Field required" in bad(typed_json(Circle), b"{}")


def test_the_users_classes_are_not_changed():
    typed_json(Circle)
    assert Circle.__pydantic_complete__
    with pytest.raises(pydantic.ValidationError):
        Circle.model_validate({"radius": 1})  # the model itself keeps its rules
    assert typed_json(Circle).json_schema()["required"] == ["type", "radius", "label"]


@pytest.mark.parametrize("annotation", [Iterable[int], typing.Iterable[int], typing.Generator[int, None, None]])
def test_lazy_types_are_validated_at_once(annotation):
    serde = typed_json(annotation)
    assert serde.deserialize(b"[1,2]") == [1, 2]
    assert "1: Input should be a valid integer" in bad(serde, b'[1,"x"]')


def test_typing_typeddict_is_converted_where_pydantic_needs_it():
    serde = typed_json(list[Request])
    assert serde.deserialize(b'[{"name":"a","must":"b"}]') == [{"name": "a", "key": None, "delay": None, "must": "b"}]
    assert serde.json_schema()["$defs"]["Request"]["title"] == "Request"
    assert typed_json(typing_extensions.TypedDict("T", {"a": int})).deserialize(b'{"a":1}') == {"a": 1}


def test_empty_body_is_none_only_where_the_type_admits_it():
    assert typed_json(Circle | None).deserialize(b"") is None
    assert typed_json(Optional[int]).deserialize(b"") is None  # noqa: UP045
    assert "an empty body is not a valid input" in bad(typed_json(Circle), b"")


def test_parse_only_decodes_as_the_sdk():
    assert ParseOnlySerde(Request).deserialize(b'{"x":1}') == {"x": 1}
    assert ParseOnlySerde(Circle).deserialize(b'{"type":"circle","radius":1,"label":null}').radius == 1
    assert ParseOnlySerde(int).deserialize(b"") is None
    for body in (b"{nope", b'{"radius":1}'):
        with pytest.raises(TerminalError) as exc:
            ParseOnlySerde(Circle).deserialize(body)
        assert exc.value.status_code == 400


# -- reflect: validate_input, union contexts ---------------------------------------------------


def test_validate_input_from_meta_and_handler():
    class Loose(Service):
        class Meta:
            validate_input = False

        async def a(self, ctx: restate.Context, req: Request) -> None: ...

        @handler(validate_input=True)
        async def b(self, ctx: restate.Context, req: Request) -> None: ...

    class Inherits(Loose):
        pass

    class Strict(Service):
        @handler(validate_input=False)
        async def c(self, ctx: restate.Context, req: Request) -> None: ...

    spec = reflect(Loose)
    assert [(h.name, h.validate_input) for h in spec.handlers] == [("a", False), ("b", True)]
    assert isinstance(spec.handler("a").serdes[0], ParseOnlySerde)
    assert isinstance(spec.handler("b").serdes[0], TypedJsonSerde)
    assert [h.validate_input for h in reflect(Inherits).handlers] == [True, True]  # a concrete base's Meta
    assert reflect(Strict).handler("c").validate_input is False
    assert "validate_input" not in reflect(Strict).handler("c").options  # never passed to the SDK


def test_a_union_of_contexts_makes_a_shared_handler():
    class Counter(VirtualObject):
        async def get(self, ctx: restate.ObjectSharedContext | restate.ObjectContext) -> int:
            return 0

        @handler(name="peek")
        async def other(self, ctx: typing.Union[restate.ObjectContext, restate.ObjectSharedContext]) -> int:  # noqa: UP007
            return 0

    class Signup(Workflow):
        async def run(self, ctx: restate.WorkflowContext) -> None: ...

        async def status(self, ctx: restate.WorkflowSharedContext | restate.WorkflowContext) -> str:
            return ""

    assert {h.name: (h.kind, h.context_kind, h.context_type) for h in reflect(Counter).handlers} == {
        "get": ("shared", "shared", restate.ObjectSharedContext),
        "peek": ("shared", "shared", restate.ObjectSharedContext),
    }
    assert reflect(Signup).handler("status").context_kind == "workflow_shared"


@pytest.mark.parametrize(
    ("kind", "annotation", "message"),
    [
        ("Service", "restate.Context | restate.ObjectContext", "a Service handler takes restate.Context alone"),
        ("VirtualObject", "restate.ObjectContext | restate.Context", "write restate.ObjectSharedContext | restate"),
        ("VirtualObject", "restate.ObjectSharedContext | int", "takes a union of contexts (ObjectSharedContext | int)"),
    ],
)
def test_a_union_that_is_not_a_shared_handler_says_what_to_write(kind, annotation, message):
    namespace = {"restate": restate, "Service": Service, "VirtualObject": VirtualObject}
    with pytest.raises(ImproperlyConfigured, match="takes a union of contexts") as exc:
        exec(
            f"class Bad({kind}):\n    async def go(self, ctx: {annotation}) -> None: ...\nreflect(Bad)",
            {**namespace, "reflect": reflect},
        )
    assert message in str(exc.value)


def test_the_mock_decodes_as_the_endpoint_does(restate_mock):
    from tests.interop_app.restate_services import Interop, InteropCounter, LooseInterop

    assert restate_mock.object(InteropCounter, "m").add(3) == 3
    assert restate_mock.object(InteropCounter, "m").get() == 3
    assert restate_mock.service(LooseInterop).proxy({"anything": 1}) == {"anything": 1}
    assert restate_mock.service(Interop).proxy({"serviceName": "s", "handlerName": "h", "message": []}) == {
        "serviceName": "s",
        "virtualObjectKey": None,
        "handlerName": "h",
        "message": [],
        "delayMillis": None,
        "idempotencyKey": None,
    }
    assert restate_mock.service(Interop).total([1, 2]) == 3
