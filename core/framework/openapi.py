"""The OpenAPI document, generated from the same Path declarations as `?help=1`.

It describes the server well enough for a client generator or a fuzzer (the test suite runs
schemathesis against it, tests/server/test_api_fuzz.py): `servers` carries the `/v1` prefix;
every operation lists the error statuses it can answer, with Vault's `{"errors": [...]}` schema,
and the statuses its Path declares (`Path.responses`, Vault's envelope); request bodies carry
the constraints of the path's msgspec Struct (`required`, enums, minimums); only the methods a
path serves appear (POST and PUT alike for writes; handlers that only refuse are left out).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from core.framework.help import field_schema, meta_schema, required_fields
from core.framework.path import Operation, Path

H = TypeVar("H")

# A path template as the document shows it: `{name*}` captures become plain `{name}`.
_STAR_CAPTURE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\*\}")
_CAPTURE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

# The HTTP methods serving each operation (LIST as `GET ?list=true`; writes take both verbs).
_HTTP_METHODS = {
    Operation.READ: ("get",),
    Operation.LIST: ("get",),
    Operation.CREATE: ("post", "put"),
    Operation.UPDATE: ("post", "put"),
    Operation.DELETE: ("delete",),
}

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"errors": {"type": "array", "items": {"type": "string"}}},
    "required": ["errors"],
}
# Every status the pipeline can answer an operation with besides success, whatever the path:
# client mistakes, the ACL, a missing item or verb, the size limits, and the server's own or
# an upstream's failure.
_ERROR_STATUSES = {
    "400": "invalid request",
    "403": "permission denied (missing, invalid or insufficient token)",
    "404": "not found (a missing item or an empty list)",
    "405": "method not allowed on this path",
    "413": "request body too large",
    "429": "a rate-limit quota refused the request",
    "500": "internal error",
    "502": "an upstream service failed",
    "503": "the backend is unavailable",
    "504": "an upstream service timed out",
}


# Vault's response envelope, the body of a success and of the statuses a Path declares itself.
ENVELOPE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "request_id": {"type": "string"},
        "data": {},
        # null or a list of strings (no `type`: OpenAPI 3.0 and plain JSON Schema spell a
        # nullable type differently; this reads the same in both).
        "warnings": {"items": {"type": "string"}},
    },
    "required": ["request_id"],
}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _responses(path: Path) -> dict[str, Any]:
    responses: dict[str, Any] = {
        "200": {"description": "OK", "content": _json({})},
        "204": {"description": "empty body"},
        **{
            status: {"description": text, "content": _json(ERROR_SCHEMA)}
            for status, text in _ERROR_STATUSES.items()
        },
    }
    for code, text in path.responses.items():
        status = str(code)
        if status in _ERROR_STATUSES:
            # Both bodies: the pipeline's `errors` (a refusal before the handler) or the handler's.
            schema = {"anyOf": [ERROR_SCHEMA, ENVELOPE_SCHEMA]}
            text = f"{_ERROR_STATUSES[status]}; or {text}"
        else:
            schema = ENVELOPE_SCHEMA
        responses[status] = {"description": text, "content": _json(schema)}
    return dict(sorted(responses.items()))


Include = Callable[[str, Operation, Path], bool]

_NOT_SERVED: set[object] = set()


def not_served(handler: H) -> H:
    """Mark a handler that only refuses its verb (Vault's bare 405 of a raw endpoint): the
    document and the `Allow` header leave that verb out."""
    _NOT_SERVED.add(handler)
    return handler


def served(path: Path) -> list[Operation]:
    return [op for op, handler in path.operations.items() if handler not in _NOT_SERVED]


_ALLOW_ORDER = ("GET", "HEAD", "POST", "PUT", "DELETE", "LIST")


def allow_header(path: Path) -> str:
    """The `Allow` value of a 405 on `path`: every HTTP method that reaches a served operation."""
    methods = {m.upper() for op in served(path) for m in _HTTP_METHODS[op]}
    if "GET" in methods:
        methods.add("HEAD")
    if Operation.LIST in served(path):
        methods.add("LIST")
    return ", ".join(m for m in _ALLOW_ORDER if m in methods)


def _operation_id(template: str, operation: Operation, method: str) -> str:
    words = re.sub(r"[^A-Za-z0-9]+", "-", template).strip("-")
    suffix = "-put" if method == "put" else ""
    return f"{words}-{operation.value}{suffix}"


def _operation(template: str, path: Path, operation: Operation, method: str) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "operationId": _operation_id(template, operation, method),
        "summary": path.synopsis,
        "responses": _responses(path),
    }
    if operation is Operation.LIST:
        spec["parameters"] = [
            {
                "name": "list",
                "in": "query",
                "required": True,
                "schema": {"type": "string", "enum": ["true"]},
            }
        ]
    if operation in (Operation.CREATE, Operation.UPDATE):
        captured = set(_CAPTURE.findall(_STAR_CAPTURE.sub(r"{\1}", template)))
        properties = {
            name: schema
            for name, schema in field_schema(path.fields).items()
            if name not in captured
        }
        body: dict[str, Any] = {"type": "object", "properties": properties}
        required = [name for name in required_fields(path.fields) if name not in captured]
        if required:
            body["required"] = required
        spec["requestBody"] = {"content": {"application/json": {"schema": body}}}
    return spec


def _capture_schema(path: Path, name: str) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "minLength": 1}
    if name in path.captures:
        schema.update(meta_schema(path.captures[name]))
    return schema


def openapi_document(
    version: str, routes: Iterable[tuple[str, Path]], include: Include
) -> dict[str, Any]:
    """`routes` pairs a mount prefix (`auth/alicloud/`) with each of its Paths; `include` says
    whether the caller may use an operation on a concrete path (the ACL filter)."""
    paths: dict[str, Any] = {}
    for prefix, path in routes:
        template = _STAR_CAPTURE.sub(r"{\1}", prefix + path.pattern)
        methods: dict[str, Any] = {}
        for operation in served(path):
            probe = template if operation is not Operation.LIST else template.rstrip("/") + "/"
            if not include(probe, operation, path):
                continue
            for method in _HTTP_METHODS[operation]:
                if method not in methods:
                    methods[method] = _operation(template, path, operation, method)
        if not methods:
            continue
        parameters = [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": _capture_schema(path, name),
            }
            for name in _CAPTURE.findall(template)
        ]
        key = "/" + template.rstrip("/")
        existing = paths.get(key)
        if existing is not None:
            # `x` (read) and `x/` (list) are one document path: keep both, first one first.
            for method, spec in methods.items():
                existing.setdefault(method, spec)
            continue
        entry: dict[str, Any] = {"description": path.description or path.synopsis, **methods}
        if parameters:
            entry["parameters"] = parameters
        paths[key] = entry
    return {
        "openapi": "3.0.2",
        "info": {
            "title": "wardgate API",
            "description": "Vault-compatible HTTP API. All routes are under `/v1/` (servers).",
            "version": version,
            "license": {
                "name": "Mozilla Public License 2.0",
                "url": "https://www.mozilla.org/en-US/MPL/2.0",
            },
        },
        "servers": [{"url": "/v1"}],
        "paths": dict(sorted(paths.items())),
    }
