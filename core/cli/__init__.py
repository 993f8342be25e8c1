"""The `wardgate` command: the server, client commands as the Vault CLI has them, the agent,
and commands that plugins bring (e.g. `wardgate sts-emulator`).

One module per command group; this one only dispatches. Client commands are `Command`/`Group`
data (flags with help, Vault's exit codes: 1 local or usage error, 2 server error); server-side
commands (`server`, `operator`, plugin commands) take their argv and return an exit code.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.cli.command import Command, Group


def client_commands() -> dict[str, Command | Group]:
    """The client commands. Imported only when one runs (or usage is shown): the server and
    its forked workers never load the HTTP client and output libraries they do not use."""
    from core.cli import auth, kv, login, policy, status, token

    return {
        **status.COMMANDS,
        **login.COMMANDS,
        **kv.COMMANDS,
        "token": token.GROUP,
        "policy": policy.GROUP,
        "auth": auth.GROUP,
    }


def _server(argv: list[str]) -> int:
    from core.cli.server import server_command

    return server_command(argv)


def _operator(argv: list[str]) -> int:
    from core.cli.operator import operator_command

    return operator_command(argv)


def _agent(argv: list[str]) -> int:
    from core.agent.main import agent_command

    return agent_command(argv)


# Commands with their own argument parsing: name -> (synopsis, argv -> exit code).
RAW: dict[str, tuple[str, Callable[[list[str]], int]]] = {
    "server": ("run the server (-config FILE, or -dev for an in-memory trial server)", _server),
    "agent": ("log in, keep the token alive, write it to files (-config FILE)", _agent),
    "operator": ("maintenance beside the server (operator -h lists them)", _operator),
}


def usage() -> str:
    from core.registry import default_registry

    registry = default_registry()
    plugin_commands: list[tuple[str, str]] = []
    for type_ in registry.types():
        spec = registry.get(type_)
        commands = spec.commands if spec is not None else {}
        plugin_commands += [(name, f"(from the {type_} plugin)") for name in commands]
    rows = [(n, s) for n, (s, _) in RAW.items()]
    client_rows = [(n, c.synopsis) for n, c in client_commands().items()]
    width = max(len(n) for n, _ in [*rows, *client_rows, *plugin_commands])

    def block(items: list[tuple[str, str]]) -> list[str]:
        return [f"  {n:<{width}}  {s}" for n, s in items]

    return "\n".join(
        [
            "Usage: wardgate <command> [flags] [args]",
            "",
            "Server:",
            *block(rows),
            "",
            "Client (WARDGATE_ADDR / WARDGATE_TOKEN, or VAULT_ADDR / VAULT_TOKEN):",
            *block(client_rows),
            "",
            "Plugin commands:",
            *block(plugin_commands),
            "",
            "Run `wardgate <command> -h` for a command's flags and arguments.",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    try:
        return _dispatch(list(sys.argv[1:] if argv is None else argv))
    except BrokenPipeError:
        # The reader went away (`wardgate login -h | head`): stop quietly, as Unix tools do.
        # Python's docs' recipe: point stdout at /dev/null so the exit-time flush cannot raise.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


def _dispatch(args: list[str]) -> int:
    if not args or args[0] in ("-h", "-help", "--help", "help"):
        print(usage(), file=sys.stdout if args else sys.stderr)
        return 0 if args else 1
    command, rest = args[0], args[1:]
    if command in ("-v", "-version", "--version"):
        command = "version"
    if command in RAW:
        return RAW[command][1](rest)
    from core.cli.command import Command, Group, run_command, run_group

    found = client_commands().get(command)
    if isinstance(found, Command):
        return run_command(found, rest)
    if isinstance(found, Group):
        return run_group(found, rest)
    from core.registry import default_registry

    plugin_command = default_registry().command(command)
    if plugin_command is not None:
        return plugin_command(rest)
    print(f"wardgate: unknown command {command!r}\n\n{usage()}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
