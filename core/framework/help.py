"""The field schema of a Path declaration, shared by `?help=1` and the OpenAPI document."""

from __future__ import annotations

import types
import typing
from typing import Any

import msgspec

from core.framework.fields import (
    MAX_DURATION_SECONDS,
    CommaList,
    DurationSeconds,
    SignedDuration,
    StrList,
    encode_hook,
)


def meta_schema(meta: msgspec.Meta) -> dict[str, Any]:
    """The constraints a field's `Annotated[..., msgspec.Meta(...)]` declares, as JSON Schema
    (`extra_json_schema` documents a rule the handler enforces with Vault's own message)."""
    schema: dict[str, Any] = {}
    for attr, key in (
        ("ge", "minimum"),
        ("le", "maximum"),
        ("min_length", "minLength"),
        ("max_length", "maxLength"),
        ("pattern", "pattern"),
    ):
        value = getattr(meta, attr)
        if value is not None:
            schema[key] = value
    if meta.extra_json_schema:
        schema.update(meta.extra_json_schema)
    return schema


def _type_schema(annotation: Any) -> dict[str, Any]:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        base, *extras = typing.get_args(annotation)
        schema = _type_schema(base)
        for extra in extras:
            if isinstance(extra, msgspec.Meta):
                schema.update(meta_schema(extra))
        return schema
    if origin is typing.Literal:
        values = list(typing.get_args(annotation))
        return {**_type_schema(type(values[0])), "enum": values}
    if annotation in (DurationSeconds, SignedDuration):
        duration: dict[str, Any] = {
            "type": "integer",
            "format": "duration",
            "description": "seconds, or a duration such as 1h30m",
        }
        # parse_duration refuses a value out of range (negative, beyond Go's time.Duration).
        duration["maximum"] = MAX_DURATION_SECONDS
        if annotation is DurationSeconds:
            duration["minimum"] = 0
        else:
            duration["minimum"] = -MAX_DURATION_SECONDS
        return duration
    if annotation in (CommaList, StrList):
        return {"type": "array", "items": {"type": "string"}, "format": "commastringslice"}
    if origin in (typing.Union, types.UnionType):
        absent = (type(None), msgspec.UnsetType)
        options = [a for a in typing.get_args(annotation) if a not in absent]
        return _type_schema(options[0]) if options else {}
    base = origin or annotation
    for python_type, name in (
        (bool, "boolean"),
        (int, "integer"),
        (str, "string"),
        (list, "array"),
        (dict, "object"),
    ):
        if isinstance(base, type) and issubclass(base, python_type):
            return {"type": name}
    return {}


def field_schema(fields: type[msgspec.Struct]) -> dict[str, Any]:
    """A JSON-Schema-like description of each input field (help and OpenAPI share it)."""
    hints = typing.get_type_hints(fields, include_extras=True)
    schema: dict[str, Any] = {}
    for field in msgspec.structs.fields(fields):
        entry = _type_schema(hints.get(field.name))
        if field.default is not msgspec.NODEFAULT and field.default is not msgspec.UNSET:
            entry["default"] = msgspec.to_builtins(field.default, enc_hook=encode_hook)
        schema[field.encode_name] = entry
    return schema


def required_fields(fields: type[msgspec.Struct]) -> list[str]:
    """The input fields without a default (the Struct refuses a request without them)."""
    return [f.encode_name for f in msgspec.structs.fields(fields) if f.required]
