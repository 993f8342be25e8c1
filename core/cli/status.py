"""`status` (the server's health) and `version` (this program's)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from core.cli.client import Client
from core.cli.command import Command
from core.cli.errors import EXIT_ERROR, UsageError
from core.cli.flags import COMMON, Parsed
from core.cli.output import field_text, print_structured, print_table
from core.cli.settings import Settings


def wardgate_version() -> str:
    try:
        return version("wardgate")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0.0.0+unknown"


def version_line() -> str:
    return f"wardgate v{wardgate_version()}"


def cmd_status(p: Parsed, s: Settings) -> int:
    if p.args:
        raise UsageError("status takes no arguments")
    with Client(s) as client:
        status, body = client.call("GET", "sys/health", "reading", anonymous=True, any_status=True)
    if s.format != "table":
        print_structured(s, body)
    else:
        print_table([(k, field_text(k, v)) for k, v in (body or {}).items()])
    return 0 if status == 200 else EXIT_ERROR


def cmd_version(p: Parsed, s: Settings) -> int:
    if p.args:
        raise UsageError("version takes no arguments")
    print(version_line())
    return 0


COMMANDS = {
    "status": Command(
        "status",
        "",
        "Show the server's health (no token needed). Exit 0 when healthy, 2 otherwise.",
        COMMON,
        cmd_status,
    ),
    "version": Command("version", "", "Print wardgate's version.", (), cmd_version),
}
