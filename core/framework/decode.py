"""Turning an HTTP request body and query into Vault's request data (a flat dict)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl

import msgspec

from core.framework.errors import BadRequest, PayloadTooLarge
from core.framework.fields import json_kind
from core.framework.offload import HEADER, LENGTH, DecodeHelper

_json_decoder = msgspec.json.Decoder()

# Vault's listener refuses JSON with more than this many strings (keys plus values), so one
# request cannot make the server build an enormous object graph.
MAX_JSON_STRINGS = 1000
# Values of any kind (`[]`, numbers, ...) are bounded too, before anything is decoded: the
# body's `,` `[` `{` are counted on the raw bytes (a C-speed scan; commas inside strings count
# as well, so the bound is conservative). A 30 MB `{"x":[[],[],...]}` used to be decoded and
# walked whole: 16 s of one worker's event loop.
MAX_JSON_ELEMENTS = 100_000
# Bodies above this size are decoded in a helper process (core/framework/offload.py says why).
OFFLOAD_ABOVE = 1024 * 1024


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


async def parse_body_async(body: bytes, content_type: str) -> dict[str, Any]:
    """`parse_body`, in a helper process for a body too large to decode on the event loop
    (see core/framework/offload.py)."""
    if len(body) <= OFFLOAD_ABOVE:
        return parse_body(body, content_type)
    _check_elements(body)
    ok, value = await _helper.parse(body, content_type)
    if not ok:
        raise BadRequest(str(value))
    if not isinstance(value, dict):
        raise BadRequest("failed to decode JSON input: expected a JSON object")
    return value


_helper = DecodeHelper()


def _check_elements(body: bytes) -> None:
    if body.count(b",") + body.count(b"[") + body.count(b"{") > MAX_JSON_ELEMENTS:
        raise BadRequest(
            "refused JSON input due to high complexity: exceeded maximum number of elements"
        )


def parse_body(body: bytes, content_type: str) -> dict[str, Any]:
    """JSON object (or null/empty) as data; a form body when it is form-encoded and not JSON."""
    _check_elements(body)
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


# -- the helper process of core/framework/offload.py: `python -m core.framework.decode` ------


def _read_exactly(stream: Any, size: int) -> bytes:
    chunks: list[bytes] = []
    while size:
        chunk = stream.read(size)
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def serve() -> None:
    """The helper's loop: decode bodies until the parent closes the pipe."""
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    encoder = msgspec.msgpack.Encoder()
    while True:
        try:
            kind_size, body_size = HEADER.unpack(_read_exactly(source, HEADER.size))
            kind = _read_exactly(source, kind_size).decode("latin-1")
            body = _read_exactly(source, body_size)
        except EOFError:
            return
        try:
            frame = encoder.encode([True, parse_body(body, kind)])
        except BadRequest as exc:
            frame = encoder.encode([False, exc.message])
        except (msgspec.EncodeError, OverflowError):
            frame = encoder.encode([False, "failed to decode JSON input: a number is too large"])
        sink.write(LENGTH.pack(len(frame)) + frame)
        sink.flush()


if __name__ == "__main__":
    serve()
