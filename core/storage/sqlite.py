"""SQLite storage: one file, shareable by several server processes.

Design notes (the why behind the shape of this module):
- WAL journal: readers never block the writer and vice versa, and a commit is one append to
  the WAL. With `synchronous=FULL` the WAL is fsynced at every commit, so an acknowledged
  write survives power loss; `NORMAL` only survives a crash of the process (kill -9), not of
  the machine.
- Three connections. Writes go through one connection owned by one thread
  (`sqlite_writer.py`), which runs each transaction whole and commits concurrent ones
  together (group commit: one fsync for many writes). Reads never touch it, so they never
  queue behind a write that waits for another process's lock, and never observe (or join) a
  transaction that is half done.
- Transactions start with BEGIN IMMEDIATE, which takes SQLite's write lock up front. That
  makes `update` atomic across processes, and it avoids the deferred-upgrade case where
  SQLite reports SQLITE_BUSY at once instead of waiting out the busy timeout.
- No caching anywhere: every read is a fresh, short read transaction on the latest commit.
- Checkpoints (copying the WAL back into the database file) run mostly on a thread of their
  own (`sqlite_checkpoint.py`); a commit only finishes one off now and then.
- Point reads (`get`, on every request's path) use a plain sqlite3 connection on the event
  loop's own thread: a primary-key lookup in WAL mode takes microseconds and never waits for
  a writer, so it is cheaper than a hop to a worker thread and back. Range scans (`list`,
  possibly long) run on aiosqlite's thread.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import os
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Self

import aiosqlite

from core.storage.base import Delete, Put, UpdateFn, WriteOp, always_mine
from core.storage.sqlite_checkpoint import DEFAULT_INTERVAL, WAL_RESTART_PAGES, Checkpointer
from core.storage.sqlite_files import prepare_database_file
from core.storage.sqlite_writer import WriterThread

_SYNCHRONOUS = {"normal": "NORMAL", "full": "FULL"}

_SCHEMA = "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID"
_GET = "SELECT value FROM kv WHERE key = ?"
_GET_MANY = "SELECT key, value FROM kv WHERE key IN ({})"
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

    __slots__ = ("_checkpointer", "_get", "_r", "_w")

    def __init__(
        self,
        reader: aiosqlite.Connection,
        writer: WriterThread,
        point_reader: sqlite3.Connection,
        checkpointer: Checkpointer,
    ) -> None:
        """Use `await SQLiteStorage.open(path)`; this only wires up open connections."""
        self._r = reader
        self._w = writer
        self._get = point_reader
        self._checkpointer = checkpointer

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        synchronous: str = "full",
        *,
        busy_timeout: float = 10.0,
        checkpoint_interval: float = DEFAULT_INTERVAL,
        wal_restart_pages: int = WAL_RESTART_PAGES,
    ) -> Self:
        """Open (creating if needed) the database at `path`.

        `busy_timeout` is how many seconds a statement waits for another process's lock
        before failing with "database is locked". `checkpoint_interval`, `wal_restart_pages`:
        see sqlite_checkpoint.py.
        """
        mode = _SYNCHRONOUS.get(synchronous.lower())
        if mode is None:
            raise ValueError(f"synchronous must be 'normal' or 'full', got {synchronous!r}")
        if str(path) in ("", ":memory:"):
            # Two connections to ":memory:" would be two unrelated databases.
            raise ValueError("SQLite storage needs a file path; use the memory backend instead")
        prepare_database_file(path)  # private modes (0700/0600) for what it creates

        def setup(db: sqlite3.Connection) -> None:
            # Encoding only takes effect on a new file; UTF-8 makes BINARY collation sort keys
            # in the byte order the contract promises (UTF-16 would not).
            db.execute("PRAGMA encoding = 'UTF-8'")
            row = db.execute("PRAGMA journal_mode = WAL").fetchone()
            if row is None or str(row[0]).lower() != "wal":
                # e.g. a file system without shared memory support: the design (readers
                # beside a writer, one append per commit) does not hold without WAL.
                raise RuntimeError(f"cannot put {os.fspath(path)!r} in WAL journal mode")
            db.execute(f"PRAGMA synchronous = {mode}")
            # Checkpoints run on their own thread; commits only finish them off now and then
            # (sqlite_checkpoint.py).
            pages = int(wal_restart_pages)
            db.execute(f"PRAGMA wal_autocheckpoint = {pages}")
            page_size = int(db.execute("PRAGMA page_size").fetchone()[0])
            db.execute(f"PRAGMA journal_size_limit = {pages * page_size}")
            db.execute(_SCHEMA)

        writer = await WriterThread.open(path, setup, busy_timeout)
        try:
            reader = await _connect(path, busy_timeout)
        except BaseException:
            await writer.close()
            raise
        try:
            # A guard, not a feature: a write sneaking onto this connection would bypass the
            # writer thread and could interleave with a transaction.
            await reader.execute("PRAGMA query_only = ON")
            point_reader = _connect_point_reader(path, busy_timeout)
        except BaseException:
            await reader.close()
            await writer.close()
            raise
        checkpointer = Checkpointer(path, checkpoint_interval)
        return cls(reader, writer, point_reader, checkpointer)

    async def get(self, key: str) -> bytes | None:
        # Autocommit: the statement is its own read transaction, so the next read sees
        # whatever has been committed since (by this process or any other).
        return _first_value(self._get.execute(_GET, (key,)).fetchall())

    async def get_many(self, keys: Sequence[str]) -> builtins.list[bytes | None]:
        # One statement, one read transaction: the values are of the same moment.
        sql = _GET_MANY.format(",".join("?" * len(keys)))
        found = {k: _first_value([(v,)]) for k, v in self._get.execute(sql, tuple(keys))}
        return [found.get(key) for key in keys]

    async def put(self, key: str, value: bytes) -> None:
        await self._w.write([Put(key, value)])

    async def delete(self, key: str) -> None:
        await self._w.write([Delete(key)])

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
        await self._w.write(ops)

    async def update(
        self,
        key: str,
        fn: UpdateFn,
        *,
        also: Sequence[WriteOp] = (),
        durable: bool = True,
        likely_absent: bool = False,
    ) -> tuple[bytes | None, bytes | None]:
        del likely_absent  # one transaction on the writer thread either way
        return await self._w.update(key, fn, also, durable=durable)

    async def ping(self) -> None:
        """The file is local and was opened: nothing can be unreachable."""

    def exclusive(self, name: str) -> contextlib.AbstractAsyncContextManager[bool]:
        # Workers sharing the file each run the (idempotent) sweeps; a sweep that finds
        # nothing due reads one index key.
        return always_mine(name)

    async def close(self) -> None:
        await asyncio.to_thread(self._checkpointer.stop)
        await self._w.close()
        await self._r.close()
        self._get.close()


async def _connect(path: str | os.PathLike[str], busy_timeout: float) -> aiosqlite.Connection:
    # isolation_level=None: no implicit transactions; `timeout` is SQLite's busy timeout.
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
