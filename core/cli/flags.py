"""Vault-style flags: `-name=value`, `-name value`, `-bool`, two dashes work too, anywhere on
the line; `--` ends them. Each flag carries its help line, so `-h` lists what a command takes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from core.cli.errors import HelpRequested, UsageError

FlagKind = Literal["bool", "str", "list"]
FlagValue = str | bool | list[str]


@dataclass(frozen=True, slots=True)
class Flag:
    name: str
    kind: FlagKind
    help: str
    metavar: str = "VALUE"
    aliases: tuple[str, ...] = ()

    def usage(self) -> str:
        names = ", ".join(f"-{n}" for n in (self.name, *self.aliases))
        return names if self.kind == "bool" else f"{names}={self.metavar}"


COMMON: tuple[Flag, ...] = (
    Flag(
        "address",
        "str",
        "the server's URL (WARDGATE_ADDR, VAULT_ADDR; default http://127.0.0.1:8200)",
        "URL",
    ),
    Flag("format", "str", "output: table, json or yaml (WARDGATE_FORMAT, VAULT_FORMAT)", "FORMAT"),
    Flag("ca-cert", "str", "CA certificate file to verify the server (WARDGATE_CACERT)", "FILE"),
    Flag(
        "tls-skip-verify",
        "bool",
        "do not verify the server's TLS certificate (WARDGATE_SKIP_VERIFY)",
    ),
)
FIELD: tuple[Flag, ...] = (
    *COMMON,
    Flag("field", "str", "print only this field of the response, raw", "NAME"),
)


@dataclass(frozen=True, slots=True)
class Parsed:
    flags: dict[str, FlagValue]
    args: list[str]

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self.flags.get(name, default)
        return value if isinstance(value, str) or value is None else default

    def flag(self, name: str) -> bool:
        return self.flags.get(name) is True

    def many(self, name: str) -> list[str]:
        value = self.flags.get(name)
        return value if isinstance(value, list) else []


def parse_flags(argv: list[str], spec: Sequence[Flag]) -> Parsed:
    by_name = {alias: flag for flag in spec for alias in (flag.name, *flag.aliases)}
    flags: dict[str, FlagValue] = {}
    args: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            args.extend(argv[i:])
            break
        if arg == "-" or not arg.startswith("-"):
            args.append(arg)
            continue
        name, has_value, value = arg.lstrip("-").partition("=")
        if name in ("h", "help"):
            raise HelpRequested()
        found = by_name.get(name)
        if found is None:
            raise UsageError(f"flag provided but not defined: -{name}")
        if found.kind == "bool":
            flags[found.name] = parse_bool(value, f"-{name}") if has_value else True
            continue
        if not has_value:
            if i >= len(argv):
                raise UsageError(f"flag needs an argument: -{name}")
            value, i = argv[i], i + 1
        if found.kind == "list":
            existing = flags.setdefault(found.name, [])
            assert isinstance(existing, list)
            existing.append(value)
        else:
            flags[found.name] = value
    return Parsed(flags, args)


def parse_bool(value: str, what: str) -> bool:
    """Go's strconv.ParseBool, which Vault uses for flags and VAULT_SKIP_VERIFY."""
    lowered = value.lower()
    if lowered in ("1", "t", "true", "yes"):
        return True
    if lowered in ("0", "f", "false", "no"):
        return False
    raise UsageError(f"invalid boolean value {value!r} for {what}")


def flag_help(spec: Sequence[Flag]) -> str:
    width = max((len(f.usage()) for f in spec), default=0)
    return "\n".join(f"  {f.usage():<{width}}  {f.help}" for f in spec)
