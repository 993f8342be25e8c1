"""`?help=1`: help text and the path's field schema, generated from the Path declaration."""

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
from core.framework.path import Backend, Path, Response


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


def help_response(backend: Backend, path: Path) -> Response:
    operations = sorted(op.value for op in path.operations)
    text = "\n\n".join(
        part
        for part in (
            f"Request: {path.pattern}",
            f"Operations: {', '.join(operations)}",
            path.synopsis,
            path.description,
            backend.help,
        )
        if part
    )
    return Response(
        data={"help": text, "operations": operations, "fields": field_schema(path.fields)}
    )
