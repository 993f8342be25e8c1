"""The field schema of a Path declaration, shared by `?help=1` and the OpenAPI document."""

from __future__ import annotations

import types
import typing
from typing import Any

import msgspec

from core.framework.fields import (
    CommaList,
    DurationSeconds,
    SignedDuration,
    StrList,
    encode_hook,
)


def _type_schema(annotation: Any) -> dict[str, Any]:
    if annotation in (DurationSeconds, SignedDuration):
        return {
            "type": "integer",
            "format": "duration",
            "description": "seconds, or a duration such as 1h30m",
        }
    if annotation in (CommaList, StrList):
        return {"type": "array", "items": {"type": "string"}, "format": "commastringslice"}
    origin = typing.get_origin(annotation)
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
    hints = typing.get_type_hints(fields)
    schema: dict[str, Any] = {}
    for field in msgspec.structs.fields(fields):
        entry = _type_schema(hints.get(field.name))
        if field.default is not msgspec.NODEFAULT and field.default is not msgspec.UNSET:
            entry["default"] = msgspec.to_builtins(field.default, enc_hook=encode_hook)
        schema[field.encode_name] = entry
    return schema
