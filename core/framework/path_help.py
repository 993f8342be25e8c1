"""`?help=1`: Vault's help answer, generated from the Path declaration.

Vault answers a flat object, not the envelope: `help` (the text `bao path-help` prints),
`openapi` (an OpenAPI document of the one path) and `see_also`.
"""

from __future__ import annotations

from typing import Any

from core.framework.help import field_schema
from core.framework.openapi import openapi_document
from core.framework.path import Backend, Path
from core.version import wardgate_version


def _parameters(path: Path) -> str:
    schema = field_schema(path.fields)
    if not schema:
        return ""
    lines = ["## PARAMETERS", ""]
    for name, entry in sorted(schema.items()):
        lines.append(f"    {name} ({entry.get('format') or entry.get('type', 'any')})")
        if "description" in entry:
            lines.append(f"        {entry['description']}")
        lines.append("")
    return "\n".join(lines).rstrip()


def help_text(backend: Backend, path: Path, request_path: str) -> str:
    operations = ", ".join(sorted(op.value for op in path.operations))
    description = "\n\n".join(part for part in (path.description, backend.help) if part)
    parts = [
        f"Request:        {request_path}\nMatching Route: {path.pattern}\nOperations:     "
        + operations,
        path.synopsis,
        _parameters(path),
        f"## DESCRIPTION\n\n{description}" if description else "",
    ]
    return "\n\n".join(part for part in parts if part) + "\n"


def help_body(prefix: str, backend: Backend, path: Path, request_path: str) -> dict[str, Any]:
    """The body of a `?help=1` answer for `request_path`, served by `path` of the backend
    mounted at `prefix`."""
    document = openapi_document(wardgate_version(), [(prefix, path)], lambda *_: True)
    return {
        "help": help_text(backend, path, request_path),
        "openapi": document,
        "see_also": None,
    }
