"""The `wardgate` command: the server, client commands in the Vault CLI's spirit, and commands
that plugins bring (e.g. `wardgate sts-emulator`)."""

from __future__ import annotations

import argparse
import sys

from core.config import Config, ConfigError, load_config

USAGE = """usage: wardgate <command> [args]

Server:
  server            run the server (--config FILE, or --dev for an in-memory trial server)

Client (WARDGATE_ADDR / WARDGATE_TOKEN, or VAULT_ADDR / VAULT_TOKEN):
  status            server health
  login             log in with an auth method (-method=alicloud role=R ...)
  read PATH         read data            write PATH k=v ...   write data
  list PATH         list keys            delete PATH          delete data
  token             token create | lookup | renew | revoke

Plugin commands:
  sts-emulator      a local Alibaba Cloud STS emulator (for tests and the dev server)

Run `wardgate <command> -h` for a command's options.
"""

CLIENT_COMMANDS = frozenset({"status", "login", "read", "write", "list", "delete", "token"})


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command == "server":
        return server_command(rest)
    if command in CLIENT_COMMANDS:
        from core.client_cli import run_client_command

        return run_client_command(command, rest)
    from core.registry import default_registry

    plugin_command = default_registry().command(command)
    if plugin_command is not None:
        return plugin_command(rest)
    print(f"wardgate: unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
    return 2


def server_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="wardgate server", description="Run the server.")
    parser.add_argument("-config", "--config", help="TOML config file (see config.example.toml)")
    parser.add_argument(
        "-dev",
        "--dev",
        action="store_true",
        help="in-memory storage, a known root token, local stand-ins for clouds",
    )
    parser.add_argument(
        "-dev-root-token-id",
        "--dev-root-token-id",
        metavar="ID",
        help="the dev server's root token (default: random, printed)",
    )
    parser.add_argument(
        "-dev-listen-address",
        "--dev-listen-address",
        metavar="HOST:PORT",
        help="the dev server's address (default 127.0.0.1:8200)",
    )
    opts = parser.parse_args(argv)
    try:
        config = load_config(opts.config) if opts.config else Config()
    except ConfigError as exc:
        print(f"wardgate: {exc}", file=sys.stderr)
        return 1
    from core.server import serve, serve_dev

    if opts.dev:
        if opts.dev_listen_address:
            config.server.address = opts.dev_listen_address
        return serve_dev(config, opts.dev_root_token_id)
    if opts.dev_root_token_id or opts.dev_listen_address:
        print("wardgate: -dev-root-token-id and -dev-listen-address need --dev", file=sys.stderr)
        return 2
    if opts.config is None:
        print("wardgate: give --config FILE (or --dev to try things out)", file=sys.stderr)
        return 2
    return serve(config, opts.config)


if __name__ == "__main__":
    sys.exit(main())
