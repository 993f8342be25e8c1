"""Shared fixtures: test identities and an STS emulator served by Hypercorn on a free port."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
from starlette.applications import Starlette

from plugins.alicloud.emulator import EmulatorState, Identity, build_emulator_app, serve_emulator

ACCOUNT = "1234567890123456"

ROLE = Identity(
    access_key_id="STS.TestRoleAccessKey0001",
    access_key_secret="TestRoleSecret0001",
    security_token="CAIS+test/Token=With+Plus==",
    arn=f"acs:ram::{ACCOUNT}:assumed-role/dev-role/session-1",
    account_id=ACCOUNT,
    identity_type="AssumedRoleUser",
    principal_id="300000000000000001:session-1",
    role_id="300000000000000001",
)
USER = Identity(
    access_key_id="LTAI5tTestUserKey0001",
    access_key_secret="TestUserSecret0001",
    arn=f"acs:ram::{ACCOUNT}:user/alice",
    account_id=ACCOUNT,
    identity_type="RAMUser",
    principal_id="200000000000000001",
    user_id="200000000000000001",
)
ROOT = Identity(
    access_key_id="LTAI5tTestRootKey0001",
    access_key_secret="TestRootSecret0001",
    arn=f"acs:ram::{ACCOUNT}:root",
    account_id=ACCOUNT,
    identity_type="Account",
    principal_id=ACCOUNT,
    user_id=ACCOUNT,
)
DISABLED = Identity(
    access_key_id="LTAI5tTestDisabledKey01",
    access_key_secret="TestDisabledSecret01",
    arn=f"acs:ram::{ACCOUNT}:user/bob",
    account_id=ACCOUNT,
    identity_type="RAMUser",
    principal_id="200000000000000002",
    user_id="200000000000000002",
    disabled=True,
)
IDENTITIES = [ROLE, USER, ROOT, DISABLED]


@dataclass
class RunningEmulator:
    url: str  # http://127.0.0.1:<port>
    app: Starlette

    @property
    def state(self) -> EmulatorState:
        state: EmulatorState = self.app.state.emulator
        return state


StartEmulator = Callable[..., Awaitable[RunningEmulator]]


@pytest.fixture
async def start_emulator() -> AsyncIterator[StartEmulator]:
    """Start emulators (Hypercorn, real sockets) that are stopped when the test ends."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(
            identities: list[Identity] = IDENTITIES,
            clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        ) -> RunningEmulator:
            app = build_emulator_app(identities, clock=clock)
            sock = stack.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            sock.listen(64)
            task = asyncio.create_task(serve_emulator("127.0.0.1", 0, [], app=app, sock=sock))

            async def stop() -> None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

            stack.push_async_callback(stop)
            return RunningEmulator(f"http://127.0.0.1:{sock.getsockname()[1]}", app)

        yield start


@pytest.fixture
async def emulator(start_emulator: StartEmulator) -> RunningEmulator:
    return await start_emulator()


def query_of(url: str) -> str:
    return urlsplit(url).query
