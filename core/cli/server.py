"""`wardgate server`: run the server from a config file, or a dev server in memory."""

from __future__ import annotations

import argparse
import sys

from core.config import Config, ConfigError, load_config


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
        print(f"wardgate: cannot start: {exc}", file=sys.stderr)
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
