"""A client command is data: its name, arguments, flags (with help) and a function. Running one
turns `-h` into its help and errors into Vault's exit codes, so no command does that itself."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from core.cli.errors import EXIT_ERROR, EXIT_USAGE, CommandError, HelpRequested, UsageError
from core.cli.flags import Flag, Parsed, flag_help, parse_flags
from core.cli.settings import Settings, settings_from

Run = Callable[[Parsed, Settings], int]


@dataclass(frozen=True, slots=True)
class Command:
    name: str  # as typed: "read", "token create"
    arguments: str  # "PATH [K=V ...]"
    synopsis: str
    flags: tuple[Flag, ...]
    run: Run
    details: str = ""  # more text for -h
    # Help computed when asked (e.g. `login -h` lists the arguments of every auth method).
    more_help: Callable[[], str] | None = None

    def usage(self) -> str:
        return f"wardgate {self.name} [flags] {self.arguments}".rstrip()

    def help(self) -> str:
        parts = [f"Usage: {self.usage()}", "", self.synopsis]
        if self.details:
            parts += ["", self.details]
        if self.more_help is not None:
            parts += ["", self.more_help()]
        parts += ["", "Flags:", flag_help(self.flags)]
        return "\n".join(parts)


@dataclass(frozen=True, slots=True)
class Group:
    """`wardgate token ...`, `wardgate policy ...`: subcommands under one name."""

    name: str
    synopsis: str
    commands: Mapping[str, Command] = field(default_factory=dict)

    def help(self) -> str:
        width = max(len(c.name) for c in self.commands.values())
        lines = [f"  {c.name:<{width}}  {c.synopsis}" for c in self.commands.values()]
        return "\n".join(
            [
                f"Usage: wardgate {self.name} <subcommand> [flags] [args]",
                "",
                self.synopsis,
                "",
                "Subcommands:",
                *lines,
                "",
                f"Run `wardgate {self.name} <subcommand> -h` for its flags.",
            ]
        )


def run_command(command: Command, argv: list[str]) -> int:
    try:
        parsed = parse_flags(argv, command.flags)
        return command.run(parsed, settings_from(parsed))
    except HelpRequested:
        print(command.help())
        return 0
    except UsageError as exc:
        print(f"wardgate {command.name}: {exc}\n\nUsage: {command.usage()}", file=sys.stderr)
        return EXIT_USAGE
    except CommandError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        # The reader went away (`wardgate list ... | head`): not an error worth a traceback.
        # Point stdout at /dev/null so the interpreter's final flush does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def run_group(group: Group, argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "-help", "--help", "help"):
        print(group.help(), file=sys.stdout if argv else sys.stderr)
        return 0 if argv else EXIT_USAGE
    command = group.commands.get(argv[0])
    if command is None:
        print(
            f"wardgate {group.name}: unknown subcommand {argv[0]!r}\n\n{group.help()}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    return run_command(command, argv[1:])


def expect_args(parsed: Parsed, command: str, names: str, count: int) -> list[str]:
    """Exactly `count` positional arguments, else a usage error naming them."""
    if len(parsed.args) != count:
        raise UsageError(f"{command} takes {names} ({count} argument(s), got {len(parsed.args)})")
    return parsed.args
