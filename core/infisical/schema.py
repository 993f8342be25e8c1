"""Zod-style validation of Infisical request bodies: every problem becomes an issue with a
`code`, a `message` and a `path`, and all of them are reported together as one 422.

The shapes and texts are zod v3's (spec infisical-alicloud.md §2.3), so scripts that print
Infisical's issues print ours the same way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from core.infisical.errors import ValidationFailure

MISSING = object()


def received(value: Any) -> str:
    """zod's name for the type of a value."""
    if value is MISSING:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


class Issues:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(self, path: Sequence[str | int], code: str, message: str, **extra: Any) -> None:
        self.items.append({"code": code, **extra, "path": list(path), "message": message})

    def wrong_type(self, path: Sequence[str | int], expected: str, value: Any) -> None:
        got = received(value)
        message = "Required" if value is MISSING else f"Expected {expected}, received {got}"
        self.add(path, "invalid_type", message, expected=expected, received=got)

    def raise_if_any(self) -> None:
        if self.items:
            raise ValidationFailure(self.items)


def string(
    body: Mapping[str, Any],
    key: str,
    issues: Issues,
    *,
    required: bool = True,
    min_length: int = 0,
    max_length: int = 0,
    pattern: re.Pattern[str] | None = None,
    pattern_message: str = "Invalid",
    min_message: str = "",
    max_message: str = "",
    path: Sequence[str | int] = (),
) -> str | None:
    """A trimmed string field (zod `z.string().trim()` plus the given rules); None when it is
    absent and optional, or invalid (an issue was recorded)."""
    where = [*path, key]
    value = body.get(key, MISSING)
    if value is MISSING and not required:
        return None
    if not isinstance(value, str):
        issues.wrong_type(where, "string", value)
        return None
    value = value.strip()
    if len(value) < min_length:
        issues.add(
            where,
            "too_small",
            min_message or f"String must contain at least {min_length} character(s)",
            minimum=min_length,
            type="string",
            inclusive=True,
            exact=False,
        )
        return None
    if max_length and len(value) > max_length:
        issues.add(
            where,
            "too_big",
            max_message or f"String must contain at most {max_length} character(s)",
            maximum=max_length,
            type="string",
            inclusive=True,
            exact=False,
        )
        return None
    if pattern is not None and not pattern.fullmatch(value):
        issues.add(where, "invalid_string", pattern_message, validation="regex")
        return None
    return value


def enum(body: Mapping[str, Any], key: str, options: Sequence[str], issues: Issues) -> str | None:
    value = body.get(key, MISSING)
    if not isinstance(value, str):
        issues.wrong_type([key], " | ".join(f"'{o}'" for o in options), value)
        return None
    if value not in options:
        expected = " | ".join(f"'{o}'" for o in options)
        issues.add(
            [key],
            "invalid_enum_value",
            f"Invalid enum value. Expected {expected}, received '{value}'",
            received=value,
            options=list(options),
        )
        return None
    return value


def integer(
    body: Mapping[str, Any],
    key: str,
    issues: Issues,
    *,
    minimum: int,
    maximum: int | None = None,
) -> int | None:
    """An integer field (zod `z.number().int().min().max()`); None when absent or invalid."""
    value = body.get(key, MISSING)
    if value is MISSING:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        issues.wrong_type([key], "number", value)
        return None
    if isinstance(value, float) and not value.is_integer():
        issues.add(
            [key],
            "invalid_type",
            "Expected integer, received float",
            expected="integer",
            received="float",
        )
        return None
    number = int(value)
    if number < minimum:
        issues.add(
            [key],
            "too_small",
            f"Number must be greater than or equal to {minimum}",
            minimum=minimum,
            type="number",
            inclusive=True,
            exact=False,
        )
        return None
    if maximum is not None and number > maximum:
        issues.add(
            [key],
            "too_big",
            f"Number must be less than or equal to {maximum}",
            maximum=maximum,
            type="number",
            inclusive=True,
            exact=False,
        )
        return None
    return number


def object_list(
    body: Mapping[str, Any], key: str, issues: Issues, *, min_items: int = 0
) -> list[Mapping[str, Any]] | None:
    """A list of objects; None when absent or invalid."""
    value = body.get(key, MISSING)
    if value is MISSING:
        return None
    if not isinstance(value, list):
        issues.wrong_type([key], "array", value)
        return None
    if len(value) < min_items:
        issues.add(
            [key],
            "too_small",
            f"Array must contain at least {min_items} element(s)",
            minimum=min_items,
            type="array",
            inclusive=True,
            exact=False,
        )
        return None
    items: list[Mapping[str, Any]] = []
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            issues.wrong_type([key, index], "object", item)
        else:
            items.append(item)
    return items
