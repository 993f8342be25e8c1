"""`wardgate operator <subcommand>`: maintenance done beside the server, with its config file
and storage (e.g. `operator generate-root --config FILE`). Each subcommand takes argv and returns
an exit code, like `wardgate server`; add one by adding it to SUBCOMMANDS."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from core.config import ConfigError, load_config

Subcommand = Callable[[list[str]], int]


def generate_root_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="wardgate operator generate-root",
        description="Issue a new root token, reading the server's config file and opening its "
        "storage directly (the server may be running). Earlier root tokens stay valid.",
    )
    parser.add_argument("-config", "--config", required=True, help="the server's config file")
    opts = parser.parse_args(argv)
    try:
        config = load_config(opts.config)
    except ConfigError as exc:
        print(f"wardgate: {exc}", file=sys.stderr)
        return 1
    from core.server import generate_root

    return generate_root(config)


# name -> (one-line synopsis, the command)
SUBCOMMANDS: dict[str, tuple[str, Subcommand]] = {
    "generate-root": (
        "a new root token, from the server's config and storage",
        generate_root_command,
    ),
}


def usage() -> str:
    width = max((len(n) for n in SUBCOMMANDS), default=0)
    lines = [f"  {n:<{width}}  {synopsis}" for n, (synopsis, _) in SUBCOMMANDS.items()]
    return "\n".join(["Usage: wardgate operator <subcommand> [flags]", "", "Subcommands:", *lines])


def operator_command(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "-help", "--help", "help"):
        print(usage(), file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 1
    found = SUBCOMMANDS.get(argv[0])
    if found is None:
        print(f"wardgate operator: unknown subcommand {argv[0]!r}\n\n{usage()}", file=sys.stderr)
        return 1
    return found[1](argv[1:])
