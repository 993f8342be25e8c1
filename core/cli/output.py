"""Printing responses as the Vault CLI does: Key/Value tables, JSON, YAML, or one raw field."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any

import yaml

from core.cli.errors import EXIT_USAGE
from core.cli.settings import Settings


def go_value(value: Any) -> str:
    """A value as Vault's table shows it (Go's %v of decoded JSON)."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + " ".join(go_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_value(value[k])}" for k in sorted(value)) + "]"
    return str(value)


def human_duration(seconds: int) -> str:
    """Vault's humanDuration: 3600 -> 1h, 5400 -> 1h30m, 90 -> 1m30s."""
    if seconds == 0:
        return "0s"
    sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        text = f"{hours}h" + (f"{minutes}m" if minutes else "") + (f"{secs}s" if secs else "")
    elif minutes:
        text = f"{minutes}m" + (f"{secs}s" if secs else "")
    else:
        text = f"{secs}s"
    return sign + text


def field_text(key: str, value: Any) -> str:
    looks_like_ttl = key in ("ttl", "period") or key.endswith(("_ttl", "_period"))
    if looks_like_ttl and isinstance(value, int) and not isinstance(value, bool):
        return human_duration(value)
    return go_value(value)


_POLICY_KEYS = frozenset({"token_policies", "identity_policies", "policies"})


def secret_rows(body: Mapping[str, Any]) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    lease = body.get("lease_duration")
    if isinstance(lease, int) and lease > 0:
        if body.get("lease_id"):
            rows += [
                ("lease_id", str(body["lease_id"])),
                ("lease_duration", human_duration(lease)),
                ("lease_renewable", go_value(body.get("renewable"))),
            ]
        else:
            rows.append(("refresh_interval", human_duration(lease)))
    auth = body.get("auth")
    if isinstance(auth, dict):
        rows += [
            (k, _quoted(v) if k in _POLICY_KEYS else go_value(v)) for k, v in auth_fields(auth)
        ]
    data = body.get("data")
    if isinstance(data, dict):
        rows += [(k, field_text(k, data[k])) for k in sorted(data)]
    return rows


def _quoted(values: Any) -> str:
    """Go's %q of a []string, as Vault shows policies: ["default" "dev"]."""
    return "[" + " ".join(json.dumps(str(v)) for v in values or []) + "]"


def auth_fields(auth: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The auth block under Vault's CLI names (token, token_accessor, token_duration, ...)."""
    duration = auth.get("lease_duration") or 0
    fields: list[tuple[str, Any]] = [
        ("token", auth.get("client_token", "")),
        ("token_accessor", auth.get("accessor", "")),
        ("token_duration", human_duration(duration) if duration else "∞"),
        ("token_renewable", auth.get("renewable", False)),
        ("token_policies", auth.get("token_policies") or []),
        ("identity_policies", auth.get("identity_policies") or []),
        ("policies", auth.get("policies") or []),
    ]
    metadata = auth.get("metadata") or {}
    fields += [(f"token_meta_{k}", metadata[k]) for k in sorted(metadata)]
    return fields


def print_table(rows: list[tuple[str, str]], header: tuple[str, str] = ("Key", "Value")) -> None:
    rows = [header, ("-" * len(header[0]), "-" * len(header[1])), *rows]
    width = max(len(key) for key, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}    {value if value != '' else 'n/a'}".rstrip())


def print_columns(header: list[str], rows: list[list[str]]) -> None:
    """A multi-column table (`auth list`, `policy list`-like output) with dashed underlines."""
    table = [header, ["-" * len(h) for h in header], *rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("    ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def print_warnings(body: Mapping[str, Any] | None) -> None:
    warnings = (body or {}).get("warnings") or []
    if warnings:
        lines = "\n".join(f"  * {w}" for w in warnings)
        print(f"WARNING! The following warnings were returned:\n\n{lines}\n", file=sys.stderr)


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


def print_structured(settings: Settings, value: Any) -> None:
    """`-format=json` or `-format=yaml` of any decoded JSON value."""
    if settings.format == "yaml":
        print(yaml.safe_dump(value, sort_keys=False, allow_unicode=True), end="")
    else:
        print_json(value)


def output_secret(settings: Settings, body: dict[str, Any]) -> int:
    if settings.field:
        return print_field(body, settings.field)
    if settings.format != "table":
        print_structured(settings, body)
        return 0
    print_warnings(body)
    print_table(secret_rows(body))
    return 0


def print_field(body: Mapping[str, Any], name: str) -> int:
    data = body.get("data")
    candidates: dict[str, Any] = dict(auth_fields(body["auth"])) if body.get("auth") else {}
    if isinstance(data, dict):
        candidates.update(data)
    if name not in candidates:
        print(f'Field "{name}" not present in the response', file=sys.stderr)
        return EXIT_USAGE
    value = candidates[name]
    print(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
    return 0
