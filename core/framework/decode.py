"""Turning an HTTP request body and query into Vault's request data (a flat dict)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl

import msgspec

from core.framework.errors import BadRequest, PayloadTooLarge
from core.framework.fields import json_kind

_json_decoder = msgspec.json.Decoder()

# Vault's listener refuses JSON with more than this many strings (keys plus values), so one
# request cannot make the server build an enormous object graph.
MAX_JSON_STRINGS = 1000


async def read_body(chunks: AsyncIterator[bytes], content_length: str | None, limit: int) -> bytes:
    """Read the body, refusing anything over `limit` bytes before it is all in memory."""
    if content_length is not None:
        try:
            declared = int(content_length)
        except ValueError:
            raise BadRequest("invalid Content-Length header") from None
        if declared > limit:
            raise PayloadTooLarge()
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge()
        parts.append(chunk)
    return b"".join(parts)


def parse_body(body: bytes, content_type: str) -> dict[str, Any]:
    """JSON object (or null/empty) as data; a form body when it is form-encoded and not JSON."""
    stripped = body.strip()
    if not stripped:
        return {}
    if content_type.startswith("application/x-www-form-urlencoded") and not stripped.startswith(
        b"{"
    ):
        return _parse_form(stripped)
    try:
        value = _json_decoder.decode(stripped)
    except msgspec.DecodeError as exc:
        raise BadRequest(f"failed to decode JSON input: {exc}") from None
    except RecursionError:
        # The decoder nests as deep as the JSON does; past Python's recursion limit (about
        # 900 levels here, where Vault allows 10000) that is the client's doing, not a 500.
        raise BadRequest("failed to decode JSON input: nesting is too deep") from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest(
            f"failed to decode JSON input: expected a JSON object, got {json_kind(value)}"
        )
    if _count_strings(value, MAX_JSON_STRINGS) > MAX_JSON_STRINGS:
        raise BadRequest(
            "refused JSON input due to high complexity: exceeded maximum number of strings"
        )
    return value


def _parse_form(body: bytes) -> dict[str, Any]:
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("failed to parse form-encoded body") from None
    # A repeated key is joined with commas, as Vault does ("a=x&a=y" is the list "x,y").
    data: dict[str, Any] = {}
    for key, value in pairs:
        data[key] = f"{data[key]},{value}" if key in data else value
    return data


def parse_query(query: list[tuple[str, str]]) -> dict[str, Any]:
    """Query parameters become request data on GET, as in Vault (`list` and `help` excluded);
    a repeated parameter becomes a list of its values."""
    data: dict[str, Any] = {}
    for key, value in query:
        if key in ("list", "help"):
            continue
        if key not in data:
            data[key] = value
        elif isinstance(data[key], list):
            data[key].append(value)
        else:
            data[key] = [data[key], value]
    return data


def parse_bool_flag(value: str, name: str) -> bool:
    lowered = value.lower()
    if lowered in ("1", "t", "true"):
        return True
    if lowered in ("", "0", "f", "false"):
        return False
    raise BadRequest(f'invalid value for "{name}": {value!r} is not a boolean')


def _count_strings(value: Any, cap: int) -> int:
    """Strings in a decoded JSON value (keys and values), stopping early past `cap`."""
    count = 0
    stack = [value]
    while stack and count <= cap:
        item = stack.pop()
        if isinstance(item, str):
            count += 1
        elif isinstance(item, dict):
            count += len(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return count


def token_from_headers(headers: Any) -> str:
    """X-Vault-Token wins; otherwise `Authorization: Bearer <token>`. Empty means none."""
    token: str = headers.get("x-vault-token", "")
    if token:
        return token
    auth: str = headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return ""
