"""Several real `wardgate server` processes (nodes) on one PostgreSQL database.

Each node is its own process on its own port, started from its own config file, exactly as an
operator runs them behind a load balancer. Nothing is shared between them but the database.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.server import ServerProcess, client_env, free_port, wait_healthy

ROOT_LINE = re.compile(r"^Root token: (\S+)$", re.MULTILINE)
DENIED = {"errors": ["permission denied"]}
UNAVAILABLE = {"errors": ["storage unavailable"]}


@dataclass
class Node:
    name: str
    url: str
    process: ServerProcess

    def root_tokens(self) -> list[str]:
        return ROOT_LINE.findall(self.process.stderr())

    def call(
        self, method: str, path: str, token: str | None = None, **kw: object
    ) -> httpx.Response:
        headers = {"X-Vault-Token": token} if token else {}
        with httpx.Client(timeout=20) as client:
            return client.request(method, f"{self.url}/v1/{path}", headers=headers, **kw)  # type: ignore[arg-type]


def node_config(directory: Path, port: int, dsn: str, extra: str = "") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "wardgate.toml"
    config.write_text(
        f"""
[server]
address = "127.0.0.1:{port}"
sweep_interval = 1

[storage]
backend = "postgresql"
dsn = {{ env = "WARDGATE_NODE_DSN" }}
pool_min = 1
pool_max = 4
connect_timeout = 2
statement_timeout = 3
{extra}
"""
    )
    (directory / "dsn").write_text(dsn)
    return config


@contextlib.contextmanager
def nodes(
    base: Path, dsns: Sequence[str], *, extra: str = "", ready_timeout: float = 40.0
) -> Iterator[list[Node]]:
    """Start one node per DSN at the same instant (all processes first, then wait for each),
    and stop them all at the end. The DSN reaches each node through the environment, as a
    password-bearing DSN would (`dsn = { env = ... }`)."""
    started: list[Node] = []
    try:
        for index, dsn in enumerate(dsns):
            name = "ab"[index] if index < 2 else str(index)
            port = free_port()
            directory = base / f"node-{name}"
            config = node_config(directory, port, dsn, extra)
            env = client_env(directory, WARDGATE_NODE_DSN=dsn)
            process = ServerProcess(["--config", str(config)], env, directory)
            started.append(Node(name, f"http://127.0.0.1:{port}", process))
        for node in started:
            wait_healthy(node.url, node.process, ready_timeout)
        yield started
    finally:
        for node in started:
            node.process.stop()
