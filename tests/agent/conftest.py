"""A real stack for the agent: `wardgate sts-emulator` and `wardgate server` (SQLite file, an
AliCloud mount replaying to the emulator, role `app` with token_ttl=4s, token_max_ttl=12s) as
subprocesses, and `wardgate agent` runs against them."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from support.server import ServerProcess, client_env, free_port, wait_healthy, wardgate_command

ACCOUNT = "1234567890123456"


def identity(session: str, n: int) -> dict[str, str]:
    # Long-term-looking keys (no STS. prefix, no token) so that a profile file of type
    # access_key can hold them; the emulator answers as for a session of RAM role "app".
    return {
        "access_key_id": f"LTAI5tAgentTestKey00{n}",
        "access_key_secret": f"AgentTestSecret00{n}",
        "arn": f"acs:ram::{ACCOUNT}:assumed-role/app/{session}",
        "account_id": ACCOUNT,
        "identity_type": "AssumedRoleUser",
        "principal_id": f"30000000000000000{n}:{session}",
        "role_id": "300000000000000009",
    }


FIRST = identity("first", 1)
SECOND = identity("second", 2)


def wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port}")


@pytest.fixture(scope="session")
def emulator_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("emulator")
    (folder / "identities.json").write_text(json.dumps([FIRST, SECOND]))
    port = free_port()
    with (folder / "out").open("wb") as out:
        process = subprocess.Popen(
            [
                *wardgate_command(),
                "sts-emulator",
                "--listen",
                f"127.0.0.1:{port}",
                "--identities",
                str(folder / "identities.json"),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


@dataclass
class Stack:
    folder: Path
    port: int
    config: Path
    root_token: str = ""
    server: ServerProcess | None = None
    agents: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start_server(self) -> None:
        self.server = ServerProcess(
            ["--config", str(self.config)], client_env(self.folder), self.folder
        )
        wait_healthy(self.url, self.server, timeout=60)
        found = re.search(r"Root token: (\S+)", self.server.stderr())
        if found:
            self.root_token = found.group(1)

    def stop_server(self) -> None:
        assert self.server is not None
        self.server.stop()

    def root(self, method: str, path: str, body: dict[str, object] | None = None) -> httpx.Response:
        return httpx.request(
            method,
            f"{self.url}/v1/{path}",
            json=body,
            timeout=30,
            headers={"X-Vault-Token": self.root_token},
        )

    def lookup(self, token: str) -> httpx.Response:
        """lookup-self with the token itself: 200 means it works."""
        return httpx.get(
            f"{self.url}/v1/auth/token/lookup-self", timeout=30, headers={"X-Vault-Token": token}
        )

    def start_agent(self, config: Path, **env: str) -> subprocess.Popen[bytes]:
        log = (self.folder / f"agent-{len(self.agents)}.log").open("wb")
        agent = subprocess.Popen(
            [*wardgate_command(), "agent", "-config", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=client_env(self.folder, ALIBABA_CLOUD_ECS_METADATA_DISABLED="true", **env),
        )
        self.agents.append(agent)
        return agent

    def agent_log(self, index: int = 0) -> str:
        return (self.folder / f"agent-{index}.log").read_text(errors="replace")


@pytest.fixture
def stack(emulator_url: str, tmp_path: Path) -> Iterator[Stack]:
    port = free_port()
    config = tmp_path / "server.toml"
    config.write_text(
        f'[server]\naddress = "127.0.0.1:{port}"\n'
        f'[storage]\nbackend = "sqlite"\npath = "{tmp_path / "data" / "wardgate.db"}"\n'
        '[[auth]]\npath = "alicloud"\ntype = "alicloud"\n'
        f'[auth.config]\nsts_endpoint = "{emulator_url}"\n'
    )
    running = Stack(tmp_path, port, config)
    running.start_server()
    try:
        role = running.root(
            "POST",
            "auth/alicloud/role/app",
            {
                "arn": f"acs:ram::{ACCOUNT}:role/app",
                "token_ttl": "4s",
                "token_max_ttl": "12s",
            },
        )
        assert role.status_code in (200, 204), role.text
        yield running
    finally:
        for agent in running.agents:
            if agent.poll() is None:
                os.killpg(agent.pid, signal.SIGKILL)
                agent.wait(10)
        if running.server is not None:
            running.server.stop()


def wait_for(check: Callable[[], object], timeout: float = 40.0, what: str = "") -> object:
    """Poll until `check()` is truthy (returns it); generous: the machine may be busy."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        time.sleep(0.2)


def read_sink(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""
