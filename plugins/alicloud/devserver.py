"""What `wardgate server --dev` gets from this plugin: a local STS emulator with a demo identity,
an `alicloud/` mount pointed at it, and copy-paste commands to try a login."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

from core.registry import DevEnvironment
from plugins.alicloud.arn import parse_caller
from plugins.alicloud.emulator import Identity, demo_identities, serve_emulator


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"the STS emulator did not start on port {port}") from None
            await asyncio.sleep(0.05)
            continue
        writer.close()
        await writer.wait_closed()
        return


def _demo(identities: list[Identity]) -> Identity:
    for identity in identities:
        if parse_caller(identity.arn).type == "assumed-role":
            return identity
    return identities[0]


def banner(identity: Identity, port: int) -> list[str]:
    caller = parse_caller(identity.arn)
    role_arn = f"acs:ram::{caller.account}:role/{caller.name}"
    keys = f"access_key={identity.access_key_id} secret_key={identity.access_key_secret}"
    if identity.security_token:
        keys += f" security_token={identity.security_token}"
    return [
        "",
        f"  AliCloud: auth/alicloud/ replays logins to a local STS emulator on port {port},",
        f"  which knows a demo identity ({identity.arn}). Try:",
        f"    wardgate write auth/alicloud/role/{caller.name} arn={role_arn} "
        "token_policies=default",
        f"    wardgate login -method=alicloud role={caller.name} region=cn-hangzhou {keys}",
        # login stores its token, but an exported WARDGATE_TOKEN (the root token) takes
        # precedence over the stored one.
        "    unset WARDGATE_TOKEN",
        "    wardgate token lookup",
    ]


@contextlib.asynccontextmanager
async def running_dev_emulator(server_url: str) -> AsyncIterator[DevEnvironment]:
    identities = demo_identities()
    port = free_port()
    task = asyncio.create_task(serve_emulator("127.0.0.1", port, identities))
    try:
        await wait_for_port(port)
        yield DevEnvironment(
            mount_path="alicloud",
            mount_config={"sts_endpoint": f"http://127.0.0.1:{port}"},
            banner=banner(_demo(identities), port),
        )
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
