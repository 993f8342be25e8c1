"""Shared fixtures: an in-process wardgate server (memory, SQLite or PostgreSQL storage), a clock
the test moves by hand, and an httpx client speaking to the app through ASGI (no sockets)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from core.app import build_app
from core.config import Config, ServerConfig, StorageConfig
from core.framework.path import Clock
from core.registry import PluginRegistry
from core.runtime import Runtime
from core.storage.base import Storage
from tests.support import pg

# The auth block of a login or token create, keys in Vault's order (transcripts §0, fact 12).
AUTH_KEYS = [
    "client_token",
    "accessor",
    "policies",
    "token_policies",
    "metadata",
    "lease_duration",
    "renewable",
    "entity_id",
    "token_type",
    "orphan",
    "mfa_requirement",
    "num_uses",
]

ROOT_TOKEN = "root-test"
# A fixed "now" (2026-11-22T08:02:18Z), so expiry arithmetic in tests is exact.
START_TIME = 1_795_334_538.0
CLIENT_IP = "127.0.0.1"


class FakeClock(Clock):
    """A clock that only moves when the test says so."""

    def __init__(self, start: float = START_TIME) -> None:
        self.t = start

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Server:
    """A running app plus helpers. `call` sends the root token unless told otherwise."""

    app: Starlette
    runtime: Runtime
    clock: FakeClock
    client: httpx.AsyncClient
    _stack: contextlib.AsyncExitStack = field(repr=False)
    root_token: str = ROOT_TOKEN

    @property
    def storage(self) -> Storage:
        return self.runtime.storage

    async def client_from(self, ip: str) -> httpx.AsyncClient:
        """A client whose requests come from `ip` (closed with the server)."""
        return await self._stack.enter_async_context(make_client(self.app, ip))

    async def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = ROOT_TOKEN,
        json: Any = None,
        content: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> httpx.Response:
        sent = dict(headers or {})
        if token is not None:
            sent["X-Vault-Token"] = token
        return await (client or self.client).request(
            method, path, json=json, content=content, headers=sent, params=params
        )

    async def raw(
        self, method: str, path: str, *, token: str | None = ROOT_TOKEN, body: bytes = b""
    ) -> RawResponse:
        """Send a request straight to the ASGI app, with the path exactly as given (httpx
        would normalise `..` segments away before the server saw them)."""
        headers = [(b"host", b"wardgate"), (b"content-length", str(len(body)).encode())]
        if token is not None:
            headers.append((b"x-vault-token", token.encode()))
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": (CLIENT_IP, 40000),
            "server": ("wardgate", 80),
            "state": {},
        }
        messages: list[dict[str, Any]] = []
        sent_body = False

        async def receive() -> dict[str, Any]:
            nonlocal sent_body
            if sent_body:
                return {"type": "http.disconnect"}
            sent_body = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            messages.append(message)

        await self.app(scope, receive, send)
        start = next(m for m in messages if m["type"] == "http.response.start")
        content = b"".join(
            m.get("body", b"") for m in messages if m["type"] == "http.response.body"
        )
        got = {k.decode().lower(): v.decode() for k, v in start["headers"]}
        return RawResponse(start["status"], got, content)


def make_client(app: Starlette, ip: str = CLIENT_IP) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://wardgate")


def memory_config(**server: Any) -> Config:
    return Config(storage=StorageConfig(backend="memory"), server=ServerConfig(**server))


def sqlite_config(path: Path, **server: Any) -> Config:
    # "normal" keeps the tests fast; durability is the storage suite's business.
    storage = StorageConfig(backend="sqlite", path=str(path), synchronous="normal")
    return Config(storage=storage, server=ServerConfig(**server))


def postgres_config(dsn: str, **server: Any) -> Config:
    # A small pool: tests open many servers one after another, a few at a time.
    storage = StorageConfig(backend="postgresql", dsn=dsn, pool_min=1, pool_max=4)
    return Config(storage=storage, server=ServerConfig(**server))


# The storage backends every backend-parametrised test runs on, so they cannot drift apart.
STORAGE_BACKENDS = ["memory", "sqlite", "postgresql"]


@pytest.fixture(scope="session")
def pg_session_dsn() -> Iterator[str]:
    """This session's own throwaway PostgreSQL database (dropped at the end)."""
    name = pg.create_database()
    yield pg.dsn_for(name)
    pg.drop_database(name)


@pytest.fixture
async def pg_dsn(pg_session_dsn: str) -> str:
    """The session's database with an empty store."""
    await pg.empty_store(pg_session_dsn)
    return pg_session_dsn


async def backend_config(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> Config:
    """A fresh, empty store on `backend` (PostgreSQL only when a test asks for it)."""
    if backend == "memory":
        return memory_config()
    if backend == "sqlite":
        return sqlite_config(tmp_path / "wardgate.db")
    dsn = request.getfixturevalue("pg_session_dsn")
    await pg.empty_store(dsn)
    return postgres_config(dsn)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    line = pg.summary_line()
    if line:
        terminalreporter.write_line(line, red=True, bold=True)


@contextlib.asynccontextmanager
async def start_server(
    config: Config | None = None,
    *,
    registry: PluginRegistry | None = None,
    clock: FakeClock | None = None,
    root_token: str | None = ROOT_TOKEN,
) -> AsyncIterator[Server]:
    """Build the app, run its lifespan (storage, mounts, root token) and hand out a client."""
    clock = clock or FakeClock()
    runtime = Runtime(config or memory_config(), registry or PluginRegistry(), clock=clock)
    app = build_app(runtime=runtime, root_token=root_token)
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(app.router.lifespan_context(app))
        client = await stack.enter_async_context(make_client(app))
        yield Server(app, runtime, clock, client, stack)


ServerFactory = Callable[..., contextlib.AbstractAsyncContextManager[Server]]


@pytest.fixture
def server_factory() -> ServerFactory:
    """`async with server_factory(config, registry=..., clock=...) as srv:` for custom setups."""
    return start_server


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    """A server on in-memory storage with the root token `ROOT_TOKEN`."""
    async with start_server() as srv:
        yield srv


@pytest.fixture(params=STORAGE_BACKENDS)
async def any_server(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Server]:
    """The same server on each storage backend (for the token store tests)."""
    config = await backend_config(request, request.param, tmp_path)
    async with start_server(config) as srv:
        yield srv
