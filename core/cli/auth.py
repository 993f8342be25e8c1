"""`wardgate auth enable|disable|list|tune`: auth method mounts (sys/auth)."""

from __future__ import annotations

from typing import Any

from core.cli.client import Client
from core.cli.command import Command, Group, expect_args
from core.cli.data import parse_data
from core.cli.errors import UsageError
from core.cli.flags import COMMON, Flag, Parsed
from core.cli.output import go_value, human_duration, print_columns, print_structured
from core.cli.settings import Settings

DESCRIPTION = Flag("description", "str", "a human-friendly description of the mount", "TEXT")
DEFAULT_TTL = Flag("default-lease-ttl", "str", "default TTL of the tokens it issues", "DURATION")
MAX_TTL = Flag("max-lease-ttl", "str", "maximum TTL of the tokens it issues", "DURATION")


def _mount(raw: str) -> str:
    path = raw.strip().strip("/")
    if path.startswith("auth/"):
        path = path[len("auth/") :]
    if not path:
        raise UsageError(f"invalid mount path {raw!r}")
    return path


def auth_enable(p: Parsed, s: Settings) -> int:
    (type_,) = expect_args(p, "auth enable", "the method TYPE", 1)
    path = _mount(p.text("path") or type_)
    options = parse_data(p.many("options"), stdin=lambda: "")
    config: dict[str, Any] = {}
    if p.text("default-lease-ttl") is not None:
        config["default_lease_ttl"] = p.text("default-lease-ttl")
    if p.text("max-lease-ttl") is not None:
        config["max_lease_ttl"] = p.text("max-lease-ttl")
    body: dict[str, Any] = {"type": type_, "description": p.text("description") or ""}
    if config:
        body["config"] = config
    if options:
        body["options"] = options
    with Client(s) as client:
        client.call("POST", f"sys/auth/{path}", "enabling", json_body=body)
    print(f"Success! Enabled {type_} auth method at: {path}/")
    return 0


def auth_disable(p: Parsed, s: Settings) -> int:
    (raw,) = expect_args(p, "auth disable", "PATH", 1)
    path = _mount(raw)
    with Client(s) as client:
        client.call("DELETE", f"sys/auth/{path}", "disabling")
    print(f"Success! Disabled the auth method (if it existed) at: {path}/")
    return 0


def auth_list(p: Parsed, s: Settings) -> int:
    expect_args(p, "auth list", "no arguments", 0)
    with Client(s) as client:
        _, body = client.call("GET", "sys/auth", "listing")
    mounts = (body or {}).get("data") or {}
    if s.format != "table":
        print_structured(s, mounts)
        return 0
    header = ["Path", "Type", "Accessor", "Description"]
    if p.flag("detailed"):
        header += ["Default TTL", "Max TTL", "Token Type"]
    rows = []
    for path in sorted(mounts):
        mount = mounts[path]
        row = [
            path,
            str(mount.get("type", "")),
            str(mount.get("accessor", "")),
            str(mount.get("description") or "n/a"),
        ]
        if p.flag("detailed"):
            config = mount.get("config") or {}
            row += [
                _ttl_text(config.get("default_lease_ttl")),
                _ttl_text(config.get("max_lease_ttl")),
                go_value(config.get("token_type", "default-service")),
            ]
        rows.append(row)
    print_columns(header, rows)
    return 0


def _ttl_text(value: Any) -> str:
    return "system" if not value else human_duration(int(value))


def auth_tune(p: Parsed, s: Settings) -> int:
    (raw,) = expect_args(p, "auth tune", "PATH", 1)
    path = _mount(raw)
    body: dict[str, Any] = {}
    for flag in ("description", "default-lease-ttl", "max-lease-ttl", "token-type"):
        if p.text(flag) is not None:
            body[flag.replace("-", "_")] = p.text(flag)
    if not body:
        raise UsageError(
            "nothing to tune: give -description, -default-lease-ttl, -max-lease-ttl or -token-type"
        )
    with Client(s) as client:
        client.call("POST", f"sys/auth/{path}/tune", "tuning", json_body=body)
    print(f"Success! Tuned the auth method at: {path}/")
    return 0


GROUP = Group(
    "auth",
    "Enable, disable, list and tune auth methods.",
    {
        "enable": Command(
            "auth enable",
            "TYPE",
            "Enable an auth method (at TYPE/ unless -path).",
            (
                *COMMON,
                DESCRIPTION,
                DEFAULT_TTL,
                MAX_TTL,
                Flag("path", "str", "where to mount it (default: the type's name)", "PATH"),
                Flag("options", "list", "a K=V setting of the method (repeat for several)", "K=V"),
            ),
            auth_enable,
        ),
        "disable": Command(
            "auth disable",
            "PATH",
            "Disable an auth method; its tokens are revoked.",
            COMMON,
            auth_disable,
        ),
        "list": Command(
            "auth list",
            "",
            "List the enabled auth methods.",
            (*COMMON, Flag("detailed", "bool", "show TTLs and token types too")),
            auth_list,
        ),
        "tune": Command(
            "auth tune",
            "PATH",
            "Change a mount's description, TTLs or token type (flags not given stay unchanged).",
            (
                *COMMON,
                DESCRIPTION,
                DEFAULT_TTL,
                MAX_TTL,
                Flag(
                    "token-type", "str", "default-service, default-batch, service or batch", "TYPE"
                ),
            ),
            auth_tune,
        ),
    },
)
