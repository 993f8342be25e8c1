"""The one place that touches pyhcl (which has no type stubs): policy text to plain data.

Two things pyhcl does not do the way Vault's HCL library does, and that matter for security:

- Repeated top-level blocks. pyhcl folds `path "x" {...}` written twice into one dict, the later
  block overwriting the earlier one's keys, so a later `capabilities = ["read"]` could erase an
  earlier `["deny"]`. Vault keeps both blocks and merges them (deny wins). We keep every
  top-level item by hooking pyhcl's own top-level reduction; the grammar is still pyhcl's.
- Duplicate keys in the JSON form. `json.loads` silently keeps the last; we refuse them.

Error positions: pyhcl reports the absolute character offset where it says "column"; we
turn every position into Vault's `At line:column:` form.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any

from hcl.parser import HclParser  # type: ignore[import-untyped]

from core.policy.model import PolicyError

Item = tuple[str, object]


class _ItemsParser(HclParser):  # type: ignore[misc]
    """pyhcl's parser, except the top level is returned as its list of (key, value) items."""

    def objectlist_flat(self, lt: Any, replace: Any) -> Any:
        # pyhcl calls this with replace=True only for the top level (p_top).
        if replace:
            return list(lt)
        return super().objectlist_flat(lt, replace)


# Building the parser tables costs ~70 ms, so one instance is kept. PLY keeps parse state on
# the parser object, hence the lock (the server is single-threaded; tests may not be).
_parser: _ItemsParser | None = None
_lock = threading.Lock()

_LEXER_POS = re.compile(r"^Line \d+, column \d+, index (\d+): (.*)$", re.DOTALL)
_PARSER_POS = re.compile(r"^Line \d+, column (\d+): (.*)$", re.DOTALL)
_EOF = "Unexpected end of file"


def load_items(text: str) -> list[Item]:
    """The top-level (key, value) items of an HCL or JSON document, in order.

    Raises PolicyError("failed to parse policy: At L:C: ...") for malformed input.
    """
    if text.lstrip().startswith("{"):
        return _load_json(text)
    global _parser
    with _lock:
        if _parser is None:
            _parser = _ItemsParser()
        try:
            result: object = _parser.parse(text)
        except ValueError as exc:
            raise PolicyError(f"failed to parse policy: {_hcl_message(text, str(exc))}") from None
    if isinstance(result, dict):  # the empty document comes back as {}
        return list(result.items())
    if not isinstance(result, list):
        raise PolicyError("failed to parse policy: the document is not an HCL body")
    items: list[Item] = []
    for item in result:
        # Comments are only exported on request, so every item is a (key, value) pair.
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)):
            raise PolicyError(f"failed to parse policy: unexpected top-level item {item!r}")
        items.append((item[0], item[1]))
    return items


def _load_json(text: str) -> list[Item]:
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise PolicyError(
            f"failed to parse policy: At {exc.lineno}:{exc.colno}: {exc.msg}"
        ) from None
    if not isinstance(value, dict):
        raise PolicyError("failed to parse policy: a JSON policy must be an object")
    return list(value.items())


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            # json.loads lets the hook's exception through unchanged.
            raise PolicyError(f'failed to parse policy: duplicate key "{key}" in JSON')
        out[key] = value
    return out


def _hcl_message(text: str, message: str) -> str:
    for pattern in (_LEXER_POS, _PARSER_POS):
        match = pattern.match(message)
        if match is not None:
            return f"At {_position(text, int(match.group(1)))}: {match.group(2)}"
    if message.startswith(_EOF):
        return f"At {_position(text, len(text))}: unexpected end of file{message[len(_EOF) :]}"
    return message


def _position(text: str, offset: int) -> str:
    offset = max(0, min(offset, len(text)))
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return f"{line}:{column}"
