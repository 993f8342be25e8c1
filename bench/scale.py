"""Filling a stopped wardgate's SQLite database with many live tokens, fast.

Creating a million tokens over HTTP would take far longer than the measurement. Instead the
harness lets the real `TokenStore.creation` build each token's storage writes (entry, accessor
index, expiry index: exactly what the server writes for a new orphan) and applies them in large
transactions with the server stopped. The token HMAC key is the server's own, read through
`SQLiteStorage`, so the server finds every token; the harness checks that by looking up one of
them over HTTP.

Applying the writes: `SQLiteStorage.write` sends every statement through aiosqlite's thread
(~120 us per row here, 6 minutes for the 3 million rows of 1M tokens), so the captured puts go
to the same `kv` table with the standard library's `executemany` instead (~20 s), after
checking that the table has the expected shape; with any other shape the harness falls back to
`SQLiteStorage.write` in batches of 5,000 operations.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import sqlite3
import string
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.framework.path import Clock
from core.runtime import HMAC_KEY_KEY
from core.storage.base import Put, StorageView, WriteOp, always_mine
from core.storage.sqlite import SQLiteStorage
from core.tokens.store import TokenEntry, TokenStore

# The token store's key prefix, as core.runtime.Runtime.start builds it.
TOKEN_PREFIX = "sys/token/"
TOKEN_TTL = 24 * 3600  # live for the whole run; the sweeper leaves them alone
BATCH_OPS = 5000  # per SQLiteStorage.write (the fallback)
BULK_ROWS = 100_000  # per transaction of the bulk path
_UPSERT = (
    "INSERT INTO kv (key, value) VALUES (?, ?)"
    " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)
_ALPHABET = string.ascii_letters + string.digits


class _Capture:
    """A Storage that only records writes (what TokenStore.create would store)."""

    def __init__(self) -> None:
        self.ops: list[WriteOp] = []

    async def write(self, ops: Sequence[WriteOp]) -> None:
        self.ops.extend(ops)

    async def get(self, key: str) -> bytes | None:
        raise NotImplementedError

    async def put(self, key: str, value: bytes) -> None:
        raise NotImplementedError

    async def delete(self, key: str) -> None:
        raise NotImplementedError

    async def list(self, prefix: str, *, after: str = "", limit: int | None = None) -> list[str]:
        raise NotImplementedError

    async def update(self, *args: Any, **kwargs: Any) -> tuple[bytes | None, bytes | None]:
        raise NotImplementedError

    async def ping(self) -> None:
        pass

    def exclusive(self, name: str) -> contextlib.AbstractAsyncContextManager[bool]:
        return always_mine(name)

    async def close(self) -> None:
        pass


def _bulk_ok(db: Path) -> bool:
    """Whether the database has the `kv (key TEXT PRIMARY KEY, value BLOB [NOT NULL])` table."""
    with sqlite3.connect(db) as conn:
        columns = [(row[1], row[2].upper()) for row in conn.execute("PRAGMA table_info(kv)")]
    return columns == [("key", "TEXT"), ("value", "BLOB")]


class _BulkWriter:
    def __init__(self, db: Path) -> None:
        self._db = db
        self._conn = sqlite3.connect(db, isolation_level=None)
        # Benchmark data into a stopped server's file: no need to fsync each transaction.
        self._conn.execute("PRAGMA synchronous = OFF")

    def write(self, ops: Sequence[WriteOp]) -> None:
        rows = sorted((op.key, op.value) for op in ops if isinstance(op, Put))
        if len(rows) != len(ops):
            raise TypeError("the bulk path only writes Put operations")
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            self._conn.executemany(_UPSERT, rows)
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._conn.close()
        # synchronous=OFF left the file's pages dirty in the page cache: flush them now, or
        # the kernel writes them back during the first measured round (seen: lookup p50 at 1M
        # 7.95 ms in round 1, 4.88 ms in round 2, 4.87 ms at 1K).
        fd = os.open(self._db, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


async def _fill(db: Path, count: int, seed_token: str | None) -> str:
    storage = await SQLiteStorage.open(db, "normal")
    bulk = _BulkWriter(db) if _bulk_ok(db) else None
    try:
        key = await storage.get(HMAC_KEY_KEY)
        if key is None:
            raise RuntimeError(f"{db}: no token HMAC key; start the server once first")
        capture = _Capture()
        view = StorageView(capture, TOKEN_PREFIX)
        store = TokenStore(view, key, Clock())
        # Token ids need not be unguessable here; random.choices is ~20x faster than secrets.
        rng = random.Random()
        now = time.time()
        first = seed_token
        batch = BULK_ROWS if bulk is not None else BATCH_OPS

        async def flush() -> None:
            if bulk is not None:
                bulk.write(capture.ops)
            else:
                await storage.write(capture.ops)
            capture.ops = []

        for _ in range(count):
            entry = TokenEntry(
                accessor="".join(rng.choices(_ALPHABET, k=24)),
                policies=["default"],
                display_name="token",
                path="auth/token/create-orphan",
                creation_time=now,
                creation_ttl=TOKEN_TTL,
                expire_time=now + TOKEN_TTL,
            )
            # `creation`, not `create`: a custom id is claimed with a conditional update per
            # token, which the bulk path cannot batch; these random ids do not collide.
            token, ops = store.creation(
                entry, token_id="s." + "".join(rng.choices(_ALPHABET, k=24))
            )
            await view.write(ops)  # the view adds the store's key prefix
            if first is None:
                first = token
            if len(capture.ops) >= batch:
                await flush()
        if capture.ops:
            await flush()
        assert first is not None
        return first
    finally:
        if bulk is not None:
            bulk.close()
        await storage.close()


def fill_tokens(db: Path, count: int, seed_token: str | None = None) -> str:
    """Add `count` live orphan tokens (policy `default`) to the stopped server's database;
    returns one of them (`seed_token` if given, which is then assumed to exist)."""
    if count <= 0:
        if seed_token is None:
            raise ValueError("nothing to fill and no token to return")
        return seed_token
    return asyncio.run(_fill(db, count, seed_token))
