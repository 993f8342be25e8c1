"""SQLite storage: one file, shareable by several server processes.

Design notes (the why behind the shape of this module):
- WAL journal: readers never block the writer and vice versa, and a commit is one append to
  the WAL. With `synchronous=FULL` the WAL is fsynced at every commit, so an acknowledged
  write survives power loss; `NORMAL` only survives a crash of the process (kill -9), not of
  the machine.
- Two connections. Reads go through their own connection so they never queue behind a write
  that is waiting for another process's lock, and so they can never observe (or join) a
  transaction that is half done on the write connection.
- All transactions on the write connection happen under an asyncio.Lock: aiosqlite runs a
  connection's statements one at a time, but without the lock a second coroutine's statement
  could land between another coroutine's BEGIN and COMMIT and become part of its transaction.
- Multi-statement transactions start with BEGIN IMMEDIATE, which takes SQLite's write lock
  up front. That makes `update` atomic across processes, and it avoids the deferred-upgrade
  case where SQLite reports SQLITE_BUSY at once instead of waiting out the busy timeout.
- No caching anywhere: every read is a fresh, short read transaction on the latest commit.
- Point reads (`get`, on every request's path) use a plain sqlite3 connection on the event
  loop's own thread: a primary-key lookup in WAL mode takes microseconds and never waits for
  a writer, so it is cheaper than aiosqlite's hop to its worker thread and back. Range scans
  (`list`, possibly long) and all writes stay on aiosqlite's threads.
"""

from __future__ import annotations

import asyncio
import builtins
import os
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Self

import aiosqlite

from core.storage.base import Delete, Put, UpdateFn, WriteOp

_SYNCHRONOUS = {"normal": "NORMAL", "full": "FULL"}

_SCHEMA = "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID"
_GET = "SELECT value FROM kv WHERE key = ?"
_PUT = (
    "INSERT INTO kv (key, value) VALUES (?, ?)"
    " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)
_DELETE = "DELETE FROM kv WHERE key = ?"
# Both are range scans on the primary key; LIMIT -1 means no limit in SQLite.
_LIST_BOUNDED = "SELECT key FROM kv WHERE key > ? AND key < ? ORDER BY key LIMIT ?"
_LIST_UNBOUNDED = "SELECT key FROM kv WHERE key > ? ORDER BY key LIMIT ?"

_MAX_CODE_POINT = 0x10FFFF


class SQLiteStorage:
    """Storage in one SQLite file; see the module docstring for the design."""

    __slots__ = ("_busy_timeout", "_get", "_lock", "_r", "_w")

    def __init__(
        self,
        reader: aiosqlite.Connection,
        writer: aiosqlite.Connection,
        point_reader: sqlite3.Connection,
        busy_timeout: float = 10.0,
    ) -> None:
        """Use `await SQLiteStorage.open(path)`; this only wires up open connections."""
        self._r = reader
        self._w = writer
        self._get = point_reader
        self._lock = asyncio.Lock()
        self._busy_timeout = busy_timeout

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        synchronous: str = "full",
        *,
        busy_timeout: float = 10.0,
    ) -> Self:
        """Open (creating if needed) the database at `path`.

        `busy_timeout` is how many seconds a statement waits for another process's lock
        before failing with "database is locked".
        """
        mode = _SYNCHRONOUS.get(synchronous.lower())
        if mode is None:
            raise ValueError(f"synchronous must be 'normal' or 'full', got {synchronous!r}")
        if str(path) in ("", ":memory:"):
            # Two connections to ":memory:" would be two unrelated databases.
            raise ValueError("SQLite storage needs a file path; use the memory backend instead")
        Path(path).parent.mkdir(parents=True, exist_ok=True)

        writer = await _connect(path, busy_timeout)
        try:
            # Encoding only takes effect on a new file; UTF-8 makes BINARY collation sort keys
            # in the byte order the contract promises (UTF-16 would not).
            await writer.execute("PRAGMA encoding = 'UTF-8'")
            rows = builtins.list(await writer.execute_fetchall("PRAGMA journal_mode = WAL"))
            if not rows or str(rows[0][0]).lower() != "wal":
                # e.g. a file system without shared memory support: the design (readers
                # beside a writer, one append per commit) does not hold without WAL.
                raise RuntimeError(f"cannot put {os.fspath(path)!r} in WAL journal mode")
            await writer.execute(f"PRAGMA synchronous = {mode}")
            await writer.execute(_SCHEMA)
            reader = await _connect(path, busy_timeout)
        except BaseException:
            await writer.close()
            raise
        try:
            # A guard, not a feature: a write sneaking onto this connection would bypass the
            # write lock and could interleave with a transaction.
            await reader.execute("PRAGMA query_only = ON")
            point_reader = _connect_point_reader(path, busy_timeout)
        except BaseException:
            await reader.close()
            await writer.close()
            raise
        # From here on the writer never sleeps inside SQLite waiting for another process's
        # lock: `_begin` retries in short async steps instead (see there).
        await writer.execute("PRAGMA busy_timeout = 0")
        return cls(reader, writer, point_reader, busy_timeout)

    async def get(self, key: str) -> bytes | None:
        # Autocommit: the statement is its own read transaction, so the next read sees
        # whatever has been committed since (by this process or any other).
        return _first_value(self._get.execute(_GET, (key,)).fetchall())

    async def put(self, key: str, value: bytes) -> None:
        await self.write([Put(key, value)])

    async def delete(self, key: str) -> None:
        await self.write([Delete(key)])

    async def list(
        self, prefix: str, *, after: str = "", limit: int | None = None
    ) -> builtins.list[str]:
        if limit is not None and limit < 0:
            raise ValueError(f"limit must not be negative, got {limit}")
        if limit == 0:
            return []
        n = -1 if limit is None else limit
        upper = _prefix_upper_bound(prefix)
        if upper is None:
            rows = await self._r.execute_fetchall(_LIST_UNBOUNDED, (prefix + after, n))
        else:
            rows = await self._r.execute_fetchall(_LIST_BOUNDED, (prefix + after, upper, n))
        cut = len(prefix)
        return [row[0][cut:] for row in rows]

    async def write(self, ops: Sequence[WriteOp]) -> None:
        async with self._lock:
            try:
                await self._begin()
                for op in ops:
                    await self._apply(op)
                await self._w.execute("COMMIT")
            except BaseException:
                await self._rollback()
                raise

    async def update(
        self, key: str, fn: UpdateFn, *, also: Sequence[WriteOp] = ()
    ) -> tuple[bytes | None, bytes | None]:
        async with self._lock:
            try:
                # IMMEDIATE: no other process can commit between our read and our write.
                await self._begin()
                old = _first_value(await self._w.execute_fetchall(_GET, (key,)))
                new = fn(old)
                if new is None:
                    await self._w.execute(_DELETE, (key,))
                else:
                    _check_value(new)
                    await self._w.execute(_PUT, (key, new))
                for op in also:
                    await self._apply(op)
                await self._w.execute("COMMIT")
            except BaseException:
                await self._rollback()
                raise
            return old, new

    async def _apply(self, op: WriteOp) -> None:
        """One op inside the caller's transaction."""
        if isinstance(op, Put):
            _check_value(op.value)
            await self._w.execute(_PUT, (op.key, op.value))
        elif isinstance(op, Delete):
            await self._w.execute(_DELETE, (op.key,))
        else:
            raise TypeError(f"not a write op: {op!r}")

    async def close(self) -> None:
        # Under the lock, so a transaction in progress finishes before its connection goes.
        async with self._lock:
            await self._w.close()
        await self._r.close()
        self._get.close()

    async def _begin(self) -> None:
        """BEGIN IMMEDIATE, waiting for another process's write lock in short async steps.

        SQLite's own busy handler sleeps in steps of up to 100 ms, which made the slowest
        requests wait that long whenever two server processes wrote at once; retrying every
        millisecond or so keeps that wait close to the other writer's commit time, and the
        event loop runs meanwhile.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._busy_timeout
        delay = 0.0005
        while True:
            try:
                await self._w.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                busy = "locked" in str(exc) or "busy" in str(exc)
                if not busy or loop.time() >= deadline:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.004)

    async def _rollback(self) -> None:
        # BEGIN sits inside the callers' try blocks on purpose. A cancelled await does not
        # stop a statement that aiosqlite already queued: a BEGIN still waiting on another
        # process's lock would run later and leave a transaction (and the database's write
        # lock) open for whoever holds our lock next. Statements on a connection run in the
        # order they were queued, and this call queues the ROLLBACK before its first
        # suspension, so it runs after anything of the failed transaction and before anything
        # the next lock holder queues. sqlite3's rollback() is a no-op when no transaction is
        # open (BEGIN failed, or COMMIT went through).
        await self._w.rollback()


async def _connect(path: str | os.PathLike[str], busy_timeout: float) -> aiosqlite.Connection:
    # isolation_level=None: the sqlite3 module must not open transactions on its own; this
    # module issues BEGIN/COMMIT itself. `timeout` is SQLite's busy timeout: wait for another
    # process's lock instead of failing at once.
    return await aiosqlite.connect(os.fspath(path), timeout=busy_timeout, isolation_level=None)


def _prefix_upper_bound(prefix: str) -> str | None:
    """The smallest string greater than every string starting with `prefix` (None: no bound).

    Drop trailing U+10FFFF (it cannot be incremented) and increment the last code point left.
    Code point order is UTF-8 byte order, which is how SQLite compares TEXT here.
    """
    stem = prefix.rstrip(chr(_MAX_CODE_POINT))
    if not stem:
        return None
    nxt = ord(stem[-1]) + 1
    if nxt == 0xD800:
        # Surrogates cannot be encoded (or stored); no valid string lies in that gap.
        nxt = 0xE000
    return stem[:-1] + chr(nxt)


def _connect_point_reader(path: str | os.PathLike[str], busy_timeout: float) -> sqlite3.Connection:
    connection = sqlite3.connect(
        os.fspath(path), timeout=busy_timeout, isolation_level=None, check_same_thread=False
    )
    connection.execute("PRAGMA query_only = ON")
    return connection


def _first_value(rows: Iterable[sqlite3.Row] | Iterable[tuple[object, ...]]) -> bytes | None:
    for row in rows:
        value = row[0]
        if not isinstance(value, bytes):  # only another tool could have put it there
            raise TypeError(f"kv.value is {type(value).__name__}, not bytes")
        return value
    return None


def _check_value(value: object) -> None:
    # The value column is BLOB only by declaration: SQLite would happily store a str as TEXT
    # and hand back a str. Reject anything but bytes before it reaches the database.
    if not isinstance(value, bytes):
        raise TypeError(f"storage values are bytes, got {type(value).__name__}")
