"""JSON encoding of handler inputs and outputs, driven by the method's annotations.

Pydantic's ``TypeAdapter`` validates and serialises every annotation the same
way: pydantic models, dataclasses, TypedDicts and plain JSON types. A payload
that does not fit is the caller's mistake, so it fails the invocation with a
terminal 400 instead of the SDK's 500.

Validation reads what other Restate clients (Kotlin, TypeScript, Go, Java) send:

- a key or field that the caller omits reads as ``None`` when its type admits
  ``None`` (those clients drop null fields), and as its one value when its type
  is a single ``Literal`` (a concrete class of a sealed hierarchy serialised
  without its ``"type"`` discriminator). A field with a default keeps it; a
  TypedDict key marked ``Required[...]`` stays required;
- lazily validated types (``Iterable[...]``, ``Iterator``, generators) are
  validated at once, into a list, so bad input is one terminal 400, never an
  error raised while the handler iterates (which Restate would retry forever);
- ``typing.TypedDict`` works on Python 3.11 too (pydantic wants
  ``typing_extensions.TypedDict`` before 3.12: we convert it).

:class:`ParseOnlySerde` decodes exactly as the SDK's default serde does, for
handlers that must accept whatever existing callers send (``validate_input=False``).
"""

from __future__ import annotations

import functools
import sys
import threading
import types
import typing
from typing import Any

import pydantic
import pydantic_core
import typing_extensions
from restate.exceptions import TerminalError
from restate.serde import DefaultSerde, Serde

BAD_INPUT_STATUS = 400


class TypedJsonSerde(Serde[Any]):
    """(De)serialises one annotation as JSON through a pydantic ``TypeAdapter``."""

    def __init__(self, annotation: Any) -> None:
        self.annotation = annotation
        self.adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(compatible(annotation))
        schema = lenient_schema(self.adapter.core_schema)
        validator: Any = self.adapter.validator if schema is None else _validator(schema)
        # The core validator and serializer, called directly: the adapter's own methods add a
        # layer of keyword handling per call, and these run once per invocation on both ends.
        #: Python value -> validated value; raises ``pydantic.ValidationError``.
        self.validate_python = validator.validate_python
        #: JSON bytes -> validated value; raises ``pydantic.ValidationError``.
        self.validate_json = validator.validate_json
        self._to_json = self.adapter.serializer.to_json

    def json_schema(self) -> dict[str, Any]:
        return self.adapter.json_schema(mode="serialization")

    def deserialize(self, buf: bytes) -> Any:
        if not buf:
            return self.validate(None, "an empty body")
        try:
            return self.validate_json(buf)
        except pydantic.ValidationError as exc:
            raise bad_input(describe(exc)) from None

    def validate(self, value: Any, what: str) -> Any:
        try:
            return self.validate_python(value)
        except pydantic.ValidationError as exc:
            raise bad_input(f"{what} is not a valid input: {describe(exc)}") from None

    def serialize(self, obj: Any) -> bytes:
        if obj is None:
            return b""
        try:
            return self._to_json(obj)
        except (pydantic_core.PydanticSerializationError, ValueError, TypeError) as exc:
            raise TerminalError(f"The handler returned a value that cannot be encoded as JSON: {exc}") from None


class ParseOnlySerde(Serde[Any]):
    """Decodes a handler's input exactly as the SDK's default serde does (JSON parsed; a pydantic
    model validated, a dataclass built, a TypedDict or anything else left as parsed), for
    ``validate_input=False``. Only what the SDK itself cannot decode fails, and then with a
    terminal 400 (the SDK says 500 and retries)."""

    def __init__(self, annotation: Any) -> None:
        self.annotation = annotation
        self._sdk = DefaultSerde(annotation if annotation is not Any else None)

    def deserialize(self, buf: bytes) -> Any:
        try:
            return self._sdk.deserialize(buf)
        except pydantic.ValidationError as exc:
            raise bad_input(describe(exc)) from None
        except Exception as exc:  # json.JSONDecodeError, dacite's errors, ...
            raise bad_input(f"{type(exc).__name__}: {exc}") from None

    def serialize(self, obj: Any) -> bytes:
        return bytes(self._sdk.serialize(obj))


class RawInputSerde(Serde[bytes]):
    """Hands the raw body to our wrapper, which decodes it and chooses the status code."""

    def deserialize(self, buf: bytes) -> bytes:
        return bytes(buf)

    def serialize(self, obj: bytes | None) -> bytes:
        return obj or b""


@functools.cache
def _cached_typed_json(annotation: Any) -> TypedJsonSerde:
    return TypedJsonSerde(annotation)


def typed_json(annotation: Any) -> TypedJsonSerde:
    """The shared :class:`TypedJsonSerde` for an annotation: building a ``TypeAdapter`` is the
    expensive part, so the endpoint, the client and the test toolkit reuse one per type."""
    try:
        return _cached_typed_json(annotation)
    except TypeError:  # an unhashable annotation (e.g. Annotated with a dict): build it each time
        return TypedJsonSerde(annotation)


def bad_input(message: str) -> TerminalError:
    return TerminalError(f"Bad input: {message}", status_code=BAD_INPUT_STATUS)


def describe(exc: pydantic.ValidationError) -> str:
    """One line per problem, without echoing the whole (possibly huge) input back."""
    parts = []
    for error in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in error["loc"]) or "payload"
        parts.append(f"{where}: {error['msg']}")
    text = "; ".join(parts[:5])
    if len(parts) > 5:
        text += f"; and {len(parts) - 5} more"
    return text


# -- reading what other Restate clients send ---------------------------------------------------------

_MISSING = object()
#: Keys of a core schema whose values are data, not sub-schemas.
_NOT_SCHEMAS = frozenset({"cls", "config", "default", "expected", "metadata", "ref", "serialization"})


def lenient_schema(schema: Any) -> Any:
    """``schema`` (a pydantic core schema) with omitted keys that admit ``None`` (or a single
    ``Literal``) read as that value, and lazy sequences validated at once; None when it has
    neither, so the adapter's own validator is used as it is."""
    changed = [False]
    result = _lenient(schema, changed)
    return result if changed[0] else None


def _lenient(node: Any, changed: list[bool]) -> Any:
    if isinstance(node, list):
        return [_lenient(item, changed) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: (v if k in _NOT_SCHEMAS else _lenient(v, changed)) for k, v in node.items()}
    kind = out.get("type")
    if kind == "generator":  # Iterable[X], Iterator[X], Generator: eager, as a list
        changed[0] = True
        out = {k: v for k, v in out.items() if k in ("items_schema", "min_length", "max_length", "metadata")}
        out["type"] = "list"
    elif kind == "typed-dict":
        explicit = _explicitly_required(out.get("cls"))
        fields = {}
        for name, field in out["fields"].items():
            required = field.get("required", out.get("total", True))
            fill = _fill_value(field["schema"]) if required and name not in explicit else _MISSING
            if fill is not _MISSING:
                changed[0] = True
                field = {**field, "required": False, "schema": _default(field["schema"], fill)}
            fields[name] = field
        out["fields"] = fields
    elif kind == "model-fields":
        out["fields"] = {name: _with_fill(field, changed) for name, field in out["fields"].items()}
    elif kind == "dataclass-args":
        out["fields"] = [_with_fill(field, changed) for field in out["fields"]]
    return out


_BUILDING = threading.Lock()


def _validator(schema: Any) -> pydantic_core.SchemaValidator:
    """A validator for a changed schema. pydantic-core would reuse the prebuilt validator of every
    complete pydantic model and dataclass in it (and so ignore our changes to their fields), so
    those are marked incomplete while it builds; nothing else about the classes changes."""
    classes = {n["cls"] for n in _nodes(schema) if n.get("type") in ("model", "dataclass") and "cls" in n}
    prebuilt = [c for c in classes if vars(c).get("__pydantic_complete__")]
    with _BUILDING:
        try:
            for cls in prebuilt:
                type.__setattr__(cls, "__pydantic_complete__", False)
            return pydantic_core.SchemaValidator(schema)
        finally:
            for cls in prebuilt:
                type.__setattr__(cls, "__pydantic_complete__", True)


def _nodes(node: Any) -> typing.Iterator[dict[str, Any]]:
    if isinstance(node, list):
        for item in node:
            yield from _nodes(item)
    elif isinstance(node, dict):
        yield node
        for key, value in node.items():
            if key not in _NOT_SCHEMAS:
                yield from _nodes(value)


def _with_fill(field: dict[str, Any], changed: list[bool]) -> dict[str, Any]:
    fill = _fill_value(field["schema"])
    if fill is _MISSING:
        return field
    changed[0] = True
    return {**field, "schema": _default(field["schema"], fill)}


def _default(schema: dict[str, Any], value: Any) -> dict[str, Any]:
    return {"type": "default", "schema": schema, "default": value}


def _fill_value(schema: Any) -> Any:
    """What an omitted key reads as: None when its type admits None, the one value of a single
    Literal; _MISSING when it must be sent (a default it has is already a "default" schema)."""
    kind = schema.get("type") if isinstance(schema, dict) else None
    if kind in ("nullable", "none", "any"):
        return None
    if kind == "literal" and len(schema["expected"]) == 1:
        return schema["expected"][0]
    if kind == "union" and any(_fill_value(c[0] if isinstance(c, tuple) else c) is None for c in schema["choices"]):
        return None
    return _MISSING


def _explicitly_required(cls: Any) -> set[str]:
    """A TypedDict's keys that its author marked ``Required[...]``: those stay required."""
    if cls is None:
        return set()
    try:
        hints = typing.get_type_hints(cls, include_extras=True)
    except Exception:
        return set()
    required = (typing_extensions.Required, typing.Required)
    return {k for k, v in hints.items() if typing_extensions.get_origin(v) in required}


def compatible(annotation: Any) -> Any:
    """``annotation`` with every ``typing.TypedDict`` replaced by an identical
    ``typing_extensions.TypedDict`` before Python 3.12, where pydantic refuses the former."""
    if sys.version_info >= (3, 12):
        return annotation
    return _compatible(annotation)


def _compatible(annotation: Any) -> Any:
    if isinstance(annotation, type) and typing.is_typeddict(annotation):
        return _typeddict(annotation) if type(annotation).__module__ == "typing" else annotation
    origin, args = typing_extensions.get_origin(annotation), typing_extensions.get_args(annotation)
    if origin is None or not args:
        return annotation
    if origin is typing_extensions.Annotated:
        return typing_extensions.Annotated[(_compatible(args[0]), *annotation.__metadata__)]
    if origin is typing.Literal:
        return annotation
    converted = tuple(_compatible(a) for a in args)
    if converted == args:
        return annotation
    if origin in (typing.Union, types.UnionType):
        return typing.Union.__getitem__(converted)
    return origin[converted if len(converted) > 1 else converted[0]]


@functools.cache
def _typeddict(cls: Any) -> Any:
    hints = typing.get_type_hints(cls, include_extras=True)
    fields = {
        name: (
            typing_extensions.NotRequired[_compatible(_bare(hint))]
            if name in cls.__optional_keys__
            else _compatible(hint)
        )
        for name, hint in hints.items()
    }
    make: Any = typing_extensions.TypedDict
    converted: Any = make(cls.__name__, fields)
    converted.__module__ = cls.__module__
    converted.__qualname__ = cls.__qualname__
    converted.__doc__ = cls.__doc__
    return converted


def _bare(hint: Any) -> Any:
    """A key's type without a NotRequired/Required marker."""
    if typing_extensions.get_origin(hint) in (typing_extensions.NotRequired, typing_extensions.Required):
        return typing_extensions.get_args(hint)[0]
    return hint
