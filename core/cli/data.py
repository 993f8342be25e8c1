"""The `k=v` arguments of write, login and friends, as the Vault CLI reads them."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.cli.errors import UsageError


def parse_data(
    args: list[str], stdin: Callable[[], str] = lambda: sys.stdin.read()
) -> dict[str, Any]:
    """`k=v` pairs (`k=@file` reads a file, `k=-` stdin, a repeated key makes a list); a lone
    `-` or `@file.json` is a whole JSON object."""
    data: dict[str, Any] = {}
    stdin_used = False
    for arg in args:
        if arg == "-" or (arg.startswith("@") and "=" not in arg):
            if arg == "-" and stdin_used:
                raise UsageError("stdin can only be read once")
            stdin_used = stdin_used or arg == "-"
            text = stdin() if arg == "-" else read_file(arg[1:])
            try:
                loaded = json.loads(text)
            except ValueError as exc:
                raise UsageError(f"invalid JSON in {arg}: {exc}") from None
            if not isinstance(loaded, dict):
                raise UsageError(f"{arg} must hold a JSON object")
            data.update(loaded)
            continue
        key, has_value, value = arg.partition("=")
        if not has_value or not key:
            raise UsageError(f"invalid key/value pair {arg!r}: expected k=v")
        if value == "-":
            if stdin_used:
                raise UsageError("stdin can only be read once")
            stdin_used, value = True, stdin()
        elif value.startswith("@"):
            value = read_file(value[1:])
        if key not in data:
            data[key] = value
        elif isinstance(data[key], list):
            data[key].append(value)
        else:
            data[key] = [data[key], value]
    return data


def read_file(name: str) -> str:
    try:
        return Path(name).read_text()
    except OSError as exc:
        raise UsageError(f"cannot read {name}: {exc.strerror}") from None


def clean_path(path: str) -> str:
    """`/v1/sys/auth`, `v1/sys/auth` and `/sys/auth` all mean `sys/auth`."""
    path = path.lstrip("/")
    return path[3:] if path.startswith("v1/") else path
