"""The OpenAPI document, generated from the same Path declarations as `?help=1`."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from core.framework.help import field_schema
from core.framework.path import Operation, Path

# A path template as the document shows it: `{name*}` captures become plain `{name}`.
_STAR_CAPTURE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\*\}")
_CAPTURE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

# Vault's ACL checks a LIST on the collection path with its trailing slash.
_HTTP_METHOD = {
    Operation.READ: "get",
    Operation.LIST: "get",
    Operation.CREATE: "post",
    Operation.UPDATE: "post",
    Operation.DELETE: "delete",
}

Include = Callable[[str, Operation, Path], bool]


def _operation_id(template: str, operation: Operation) -> str:
    words = re.sub(r"[^A-Za-z0-9]+", "-", template).strip("-")
    return f"{words}-{operation.value}"


def _operation(template: str, path: Path, operation: Operation) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "operationId": _operation_id(template, operation),
        "summary": path.synopsis,
        "responses": {"200": {"description": "OK"}, "204": {"description": "empty body"}},
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
        properties = {
            name: schema
            for name, schema in field_schema(path.fields).items()
            if f"{{{name}}}" not in template
        }
        spec["requestBody"] = {
            "content": {
                "application/json": {"schema": {"type": "object", "properties": properties}}
            }
        }
    return spec


def openapi_document(
    version: str, routes: Iterable[tuple[str, Path]], include: Include
) -> dict[str, Any]:
    """`routes` pairs a mount prefix (`auth/alicloud/`) with each of its Paths; `include` says
    whether the caller may use an operation on a concrete path (the ACL filter)."""
    paths: dict[str, Any] = {}
    for prefix, path in routes:
        template = _STAR_CAPTURE.sub(r"{\1}", prefix + path.pattern)
        methods: dict[str, Any] = {}
        for operation in path.operations:
            probe = template if operation is not Operation.LIST else template.rstrip("/") + "/"
            if not include(probe, operation, path):
                continue
            method = _HTTP_METHOD[operation]
            if method not in methods:
                methods[method] = _operation(template, path, operation)
        if not methods:
            continue
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
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
            "description": "Vault-compatible HTTP API. All routes are prefixed with `/v1/`.",
            "version": version,
            "license": {
                "name": "Mozilla Public License 2.0",
                "url": "https://www.mozilla.org/en-US/MPL/2.0",
            },
        },
        "paths": dict(sorted(paths.items())),
    }
