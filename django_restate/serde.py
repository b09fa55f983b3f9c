"""JSON encoding of handler inputs and outputs, driven by the method's annotations.

Pydantic's ``TypeAdapter`` validates and serialises every annotation the same
way: pydantic models, dataclasses, TypedDicts and plain JSON types. A payload
that does not fit is the caller's mistake, so it fails the invocation with a
terminal 400 instead of the SDK's 500.
"""

from __future__ import annotations

import functools
from typing import Any

import pydantic
import pydantic_core
from restate.exceptions import TerminalError
from restate.serde import Serde

BAD_INPUT_STATUS = 400


class TypedJsonSerde(Serde[Any]):
    """(De)serialises one annotation as JSON through a pydantic ``TypeAdapter``."""

    def __init__(self, annotation: Any) -> None:
        self.annotation = annotation
        self.adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(annotation)
        # The adapter's core validator and serializer, called directly: the adapter's own methods
        # add a layer of keyword handling per call, and these run once per invocation on both ends.
        #: Python value -> validated value; raises ``pydantic.ValidationError``.
        self.validate_python = self.adapter.validator.validate_python
        #: JSON bytes -> validated value; raises ``pydantic.ValidationError``.
        self.validate_json = self.adapter.validator.validate_json
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
