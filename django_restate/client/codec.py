"""A handler's input encoder and output decoder: the same JSON as the endpoint's, checked before sending."""

from __future__ import annotations

from typing import Any

import pydantic

from ..exceptions import InvalidPayload
from ..reflect import HandlerSpec, ServiceSpec
from ..serde import TypedJsonSerde, describe


class _Missing:
    def __repr__(self) -> str:
        return "<no input>"


#: Default of the ``arg`` parameter: tells "no input given" from an explicit ``None``.
MISSING: Any = _Missing()


class Codec:
    """A handler's input encoder and output decoder, built once per handler.

    The serdes are the ones every caller uses (:attr:`~django_restate.reflect.HandlerSpec.serdes`), so
    client and endpoint agree on the JSON. Typed JSON is validated here, before anything is
    sent: a wrong input is the caller's :class:`InvalidPayload`, not a round trip to a 400.
    """

    def __init__(self, spec: HandlerSpec, label: str) -> None:
        self.spec = spec
        self.label = label
        self.takes_input = spec.takes_input
        self.input_serde, self.output_serde = spec.serdes

    def encode(self, arg: Any) -> bytes | None:
        if not self.takes_input:
            if arg is not MISSING:
                raise TypeError(f"{self.label} takes no input, but got {type(arg).__name__}.")
            return None
        if arg is MISSING:
            raise TypeError(f"{self.label} takes an input ({_type_name(self.spec.input_type)}); pass it.")
        serde = self.input_serde
        if not isinstance(serde, TypedJsonSerde):
            return bytes(serde.serialize(arg))
        try:
            value = serde.validate_python(arg)
        except pydantic.ValidationError as exc:
            raise InvalidPayload(
                f"The input for {self.label} is not a valid {_type_name(self.spec.input_type)}: {describe(exc)}"
            ) from None
        return serde.serialize(value) or None

    def decode(self, body: bytes) -> Any:
        serde = self.output_serde
        if not isinstance(serde, TypedJsonSerde):
            return serde.deserialize(body)
        try:
            return serde.validate_json(body) if body else serde.validate_python(None)
        except pydantic.ValidationError as exc:
            raise InvalidPayload(
                f"{self.label} returned a value that is not a {_type_name(self.spec.output_type)}: "
                f"{describe(exc)}. Is the deployed handler older or newer than this code?"
            ) from None


#: One codec per handler spec, keyed by id() and checked by identity (specs are rebuilt when
#: tests re-register): a reference is built per call, its codec is not.
_codecs: dict[int, tuple[HandlerSpec, Codec]] = {}


def codec_for(service: ServiceSpec, handler: HandlerSpec) -> Codec:
    cached = _codecs.get(id(handler))
    if cached is None or cached[0] is not handler:
        cached = _codecs[id(handler)] = (handler, Codec(handler, f"{service.name}.{handler.attr}"))
    return cached[1]


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or repr(annotation)
