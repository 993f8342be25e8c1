"""How a command ends: Vault's exit codes (0 ok, 1 local or usage error, 2 server error)."""

from __future__ import annotations

EXIT_OK = 0
EXIT_USAGE = 1
EXIT_ERROR = 2


class UsageError(Exception):
    """The command line is wrong, or something local failed (exit 1)."""


class CommandError(Exception):
    """The server or the network said no (exit 2); the message is printed as is."""


class HelpRequested(Exception):
    """`-h`/`-help`/`--help` was given: print the command's help and exit 0."""
