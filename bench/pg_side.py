"""`--storage postgresql`: wardgate nodes on the machine's PostgreSQL.

Each wardgate under test gets a fresh database (created from `--pg-dsn`, an admin DSN, and
dropped at the end), so no run sees another's tokens. The scale test fills its database through
the real `TokenStore.create` writes, applied by `PostgresStorage.write` in large batches (each
batch one statement), with the server stopped, as the SQLite fill does.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from core.framework.path import Clock
from core.runtime import HMAC_KEY_KEY, TOKEN_PREFIX
from core.storage.base import StorageView
from core.storage.options import PostgresOptions
from core.storage.postgres import PostgresStorage
from core.tokens.store import TokenEntry, TokenStore

DEFAULT_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
TOKEN_TTL = 24 * 3600
BATCH_OPS = 30_000


def admin_dsn(given: str | None) -> str:
    return given or os.environ.get("WARDGATE_BENCH_PG_DSN") or DEFAULT_ADMIN_DSN


def _with_database(dsn: str, name: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(path="/" + name))


async def _admin(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def create_database(admin: str, label: str) -> tuple[str, str]:
    """A new empty database; returns (name, DSN)."""
    name = f"wardgate_bench_{label}_{secrets.token_hex(3)}"
    asyncio.run(_admin(admin, f'CREATE DATABASE "{name}"'))
    return name, _with_database(admin, name)


def drop_database(admin: str, name: str) -> None:
    asyncio.run(_admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def storage_block(dsn: str, workers: int) -> str:
    # Enough connections for the load's concurrency per worker, within max_connections for
    # two nodes.
    return f"""[storage]
backend = "postgresql"
dsn = "{dsn}"
pool_min = 2
pool_max = {max(4, 32 // max(1, workers))}
"""


def dsn_of(storage: str) -> str:
    """The DSN in a `storage_block`."""
    for line in storage.splitlines():
        if line.startswith("dsn = "):
            return line.split("=", 1)[1].strip().strip('"')
    raise ValueError("no dsn in the storage block")


async def _fill(dsn: str, count: int) -> str:
    storage = await PostgresStorage.open(PostgresOptions(dsn=dsn, pool_min=1, pool_max=2))
    try:
        key = await storage.get(HMAC_KEY_KEY)
        if key is None:
            raise RuntimeError("no token HMAC key; start the server once first")
        tokens = TokenStore(StorageView(storage, TOKEN_PREFIX), key, Clock())
        view = StorageView(storage, TOKEN_PREFIX)
        now = Clock().now()
        first = ""
        pending = []
        for _ in range(count):
            entry = TokenEntry(
                accessor=secrets.token_urlsafe(18),
                policies=["default"],
                display_name="token",
                path="auth/token/create-orphan",
                creation_time=now,
                creation_ttl=TOKEN_TTL,
                expire_time=now + TOKEN_TTL,
            )
            token, ops = tokens.creation(entry)
            first = first or token
            pending.extend(ops)
            if len(pending) >= BATCH_OPS:
                await view.write(pending)
                pending = []
        if pending:
            await view.write(pending)
        return first
    finally:
        await storage.close()


def fill_tokens(dsn: str, count: int) -> str:
    """Add `count` live orphan tokens to the (stopped) server's database; returns one."""
    return asyncio.run(_fill(dsn, count))


def describe(admin: str) -> str:
    parts = urlsplit(admin)
    return f"PostgreSQL at {parts.hostname or 'localhost'}:{parts.port or 5432}"


def server_version(admin: str) -> str:
    async def ask() -> str:
        conn = await asyncpg.connect(admin, timeout=10)
        try:
            return str(await conn.fetchval("SHOW server_version"))
        finally:
            await conn.close()

    try:
        return "PostgreSQL " + asyncio.run(ask()).split()[0]
    except Exception:
        return "PostgreSQL"
