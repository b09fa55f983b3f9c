"""A Django form from a handler's input JSON schema (what the SDK announced to Restate: pydantic's
schema for a model, or the SDK's for a plain type hint).

An object schema gets one typed field per property with the schema's constraints (lengths,
bounds, pattern, enum, required); a scalar schema gets one field. What a form field cannot
express (nested objects, arrays, unions) is a JSON field for that property, and a schema
without any usable shape falls back to one JSON editor for the whole input.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django import forms
from django.core.validators import RegexValidator

from ..state import encode_json

#: The form field name that holds a scalar input (a handler taking ``name: str``).
VALUE = "value"
#: The JSON editor, for any schema.
BODY = "body"
#: Prefix of the generated fields, so a property named like a control field cannot clash.
PREFIX = "in_"


def resolve(schema: Any, root: Mapping[str, Any] | None = None) -> Any:
    """``schema`` with a local ``$ref`` (``#/$defs/Name``, as pydantic writes nested models) followed."""
    root = root if root is not None else schema if isinstance(schema, Mapping) else {}
    seen = 0
    while isinstance(schema, Mapping) and isinstance(schema.get("$ref"), str) and seen < 10:
        path = schema["$ref"].removeprefix("#/").split("/")
        target: Any = root
        for part in path:
            target = target.get(part) if isinstance(target, Mapping) else None
        if target is None:
            return schema
        schema, seen = target, seen + 1
    return schema


class JSONInputField(forms.CharField):
    """A JSON value typed as text; cleans to the parsed value."""

    widget = forms.Textarea(attrs={"rows": 4, "class": "restate-json", "spellcheck": "false"})

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strip=False, **kwargs)

    def to_python(self, value: Any) -> Any:
        text = super().to_python(value)
        if not text:
            return None
        try:
            return json.loads(encode_json(text))  # the state editor's one JSON check (no NaN, Infinity)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None


def scalar_field(schema: Mapping[str, Any], required: bool, label: str) -> forms.Field:
    """A typed form field for one JSON schema node, or a JSON field when no form field fits."""
    kind = schema.get("type")
    help_text = str(schema.get("description") or "")
    common: dict[str, Any] = {"required": required, "label": label, "help_text": help_text}
    if "default" in schema and not required:
        common["initial"] = schema["default"]
    if isinstance(schema.get("enum"), list) and all(isinstance(v, str) for v in schema["enum"]):
        choices = [(v, v) for v in schema["enum"]]
        return forms.ChoiceField(choices=choices if required else [("", "---------"), *choices], **common)
    if kind == "string":
        validators = [RegexValidator(schema["pattern"])] if isinstance(schema.get("pattern"), str) else []
        return forms.CharField(
            min_length=schema.get("minLength"),
            max_length=schema.get("maxLength"),
            strip=False,
            validators=validators,
            **common,
        )
    if kind in ("integer", "number"):
        low, high = schema.get("minimum"), schema.get("maximum")
        step = 1 if kind == "integer" else None
        if schema.get("exclusiveMinimum") is not None:
            low = schema["exclusiveMinimum"] + 1 if step else schema["exclusiveMinimum"]
        if schema.get("exclusiveMaximum") is not None:
            high = schema["exclusiveMaximum"] - 1 if step else schema["exclusiveMaximum"]
        if kind == "integer":
            return forms.IntegerField(min_value=low, max_value=high, **common)
        return forms.FloatField(min_value=low, max_value=high, **common)
    if kind == "boolean":
        common["required"] = False  # an unticked box is false, not missing
        return forms.BooleanField(**common)
    example = json.dumps(schema)[:200]
    return JSONInputField(**{**common, "help_text": help_text or f"JSON matching {example}"})


def schema_fields(schema: Any) -> dict[str, forms.Field] | None:
    """Typed fields for ``schema``, or None when only the JSON editor can express it."""
    node = resolve(schema)
    if not isinstance(node, Mapping) or not node:
        return None
    if node.get("type") == "object" and isinstance(node.get("properties"), Mapping) and node["properties"]:
        required = set(node.get("required") or ())
        return {
            PREFIX + str(name): scalar_field(resolve(prop, schema), name in required, str(name))
            for name, prop in node["properties"].items()
            if isinstance(prop, Mapping)
        }
    if node.get("type") in ("string", "integer", "number", "boolean") or isinstance(node.get("enum"), list):
        return {PREFIX + VALUE: scalar_field(node, True, "Value")}
    return None


def input_from(cleaned: Mapping[str, Any], schema: Any) -> Any:
    """The handler's input from a typed form's cleaned data (properties left empty are left out)."""
    node = resolve(schema)
    values = {name[len(PREFIX) :]: value for name, value in cleaned.items() if name.startswith(PREFIX)}
    if isinstance(node, Mapping) and node.get("type") == "object":
        required = set(node.get("required") or ())
        return {k: v for k, v in values.items() if k in required or v not in (None, "")}
    return values.get(VALUE)
