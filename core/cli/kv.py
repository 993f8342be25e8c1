"""`read`, `write`, `list`, `delete` and `path-help`: any path of the HTTP API."""

from __future__ import annotations

import sys

from core.cli.client import Client
from core.cli.command import Command
from core.cli.data import clean_path, parse_data
from core.cli.errors import EXIT_ERROR, EXIT_USAGE, UsageError
from core.cli.flags import COMMON, FIELD, Flag, Parsed
from core.cli.output import output_secret, print_structured, print_warnings
from core.cli.settings import Settings

DATA_HELP = (
    "K=V pairs: K=@FILE reads a file, K=- reads stdin, a repeated K makes a list;\n"
    "a lone - or @FILE.json is a whole JSON object."
)


def _one_path(p: Parsed, command: str, *, extra_ok: bool = False) -> str:
    if not p.args or (len(p.args) > 1 and not extra_ok):
        raise UsageError(f"{command} takes one PATH" + (" and K=V arguments" if extra_ok else ""))
    return clean_path(p.args[0])


def cmd_read(p: Parsed, s: Settings) -> int:
    path = _one_path(p, "read", extra_ok=True)
    with Client(s) as client:
        status, body = client.call("GET", path, "reading", params=parse_data(p.args[1:]) or None)
    if status == 404 or body is None:
        print(f"No value found at {path}", file=sys.stderr)
        return EXIT_ERROR
    return output_secret(s, body)


def cmd_write(p: Parsed, s: Settings) -> int:
    path = _one_path(p, "write", extra_ok=True)
    data = parse_data(p.args[1:])
    if not data and not p.flag("force"):
        raise UsageError("must supply data or use -force")
    with Client(s) as client:
        _, body = client.call("POST", path, "writing", json_body=data)
    if body is None or (body.get("data") is None and body.get("auth") is None):
        if s.field:
            print_warnings(body)
            print(f'Field "{s.field}" not present in the response', file=sys.stderr)
            return EXIT_USAGE
        if s.format != "table" and body is not None:
            print_structured(s, body)  # the warnings, as Vault prints them in JSON
            return 0
        print_warnings(body)
        print(f"Success! Data written to: {path}")
        return 0
    return output_secret(s, body)


def cmd_list(p: Parsed, s: Settings) -> int:
    path = _one_path(p, "list")
    with Client(s) as client:
        status, body = client.call("LIST", path, "listing")
    data = (body or {}).get("data")
    keys = data.get("keys") if isinstance(data, dict) else None
    if status == 404 or not isinstance(keys, list):
        print(f"No value found at {path}", file=sys.stderr)
        return EXIT_ERROR
    if s.format != "table":
        print_structured(s, keys)  # as `vault list -format=json`: the keys only
    else:
        print_warnings(body)
        print("\n".join(["Keys", "----", *map(str, keys)]))
    return 0


def cmd_delete(p: Parsed, s: Settings) -> int:
    path = _one_path(p, "delete", extra_ok=True)
    with Client(s) as client:
        _, body = client.call("DELETE", path, "deleting", params=parse_data(p.args[1:]) or None)
    print_warnings(body)
    print(f"Success! Data deleted (if it existed) at: {path}")
    return 0


def cmd_path_help(p: Parsed, s: Settings) -> int:
    path = _one_path(p, "path-help")
    with Client(s) as client:
        status, body = client.call("GET", path, "retrieving help for", params={"help": "1"})
    text = (body or {}).get("help")
    if status == 404 or not isinstance(text, str):
        print(f"No help found for {path}", file=sys.stderr)
        return EXIT_ERROR
    if s.format != "table":
        print_structured(s, body)
    else:
        print(text.rstrip("\n"))
    return 0


COMMANDS = {
    "read": Command(
        "read",
        "PATH [K=V ...]",
        "Read data at PATH (K=V pairs become query parameters).",
        FIELD,
        cmd_read,
    ),
    "write": Command(
        "write",
        "PATH [K=V ...]",
        "Write data to PATH.",
        (*FIELD, Flag("force", "bool", "write even with no data", aliases=("f",))),
        cmd_write,
        details=DATA_HELP,
    ),
    "list": Command("list", "PATH", "List the keys under PATH.", COMMON, cmd_list),
    "delete": Command("delete", "PATH [K=V ...]", "Delete data at PATH.", COMMON, cmd_delete),
    "path-help": Command(
        "path-help",
        "PATH",
        "Show the server's help for PATH: what it does and the fields it takes.",
        COMMON,
        cmd_path_help,
    ),
}
