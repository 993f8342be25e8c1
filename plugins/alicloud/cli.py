"""`wardgate sts-emulator`: run the STS emulator as a standalone server."""

from __future__ import annotations

import argparse
import contextlib
import sys

from core.framework.aio import run_event_loop
from plugins.alicloud.emulator import (
    Identity,
    demo_identities,
    load_identities,
    serve_emulator,
)


def sts_emulator_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="wardgate sts-emulator",
        description="A local Alibaba Cloud STS emulator: verifies signature v1 as STS does and "
        "answers GetCallerIdentity for the identities it knows.",
    )
    parser.add_argument("-listen", "--listen", default="127.0.0.1:9100", metavar="HOST:PORT")
    parser.add_argument(
        "-identities",
        "--identities",
        metavar="FILE",
        help="JSON file of identities (default: the built-in demo identities)",
    )
    parser.add_argument(
        "-print-credentials",
        "--print-credentials",
        action="store_true",
        help="print each identity's keys as login arguments (k=v) and exit",
    )
    opts = parser.parse_args(argv)
    host, _, port_text = opts.listen.rpartition(":")
    if not host or not port_text.isdigit():
        print(
            f"wardgate sts-emulator: --listen must be HOST:PORT, not {opts.listen!r}",
            file=sys.stderr,
        )
        return 2
    try:
        identities = load_identities(opts.identities) if opts.identities else demo_identities()
    except (OSError, ValueError) as exc:
        print(f"wardgate sts-emulator: cannot load identities: {exc}", file=sys.stderr)
        return 1
    if opts.print_credentials:
        print_credentials(identities)
        return 0
    print(
        f"STS emulator on http://{host}:{port_text} with {len(identities)} identities:",
        file=sys.stderr,
    )
    for identity in identities:
        print(f"  {identity.access_key_id}  {identity.arn}", file=sys.stderr)
    with contextlib.suppress(KeyboardInterrupt):
        # uvloop like the server: in benchmarks the emulator shares the machine's cores.
        run_event_loop(serve_emulator(host, int(port_text), identities))
    return 0


def print_credentials(identities: list[Identity]) -> None:
    """One block per identity: its ARN, then `wardgate login -method=alicloud` arguments."""
    for identity in identities:
        keys = f"access_key={identity.access_key_id} secret_key={identity.access_key_secret}"
        if identity.security_token:
            keys += f" security_token={identity.security_token}"
        print(f"# {identity.arn}{' (disabled)' if identity.disabled else ''}\n{keys}")
