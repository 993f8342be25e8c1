"""The SQLite write side: each transaction runs whole, in one call, on one dedicated thread.

Why not a statement-by-statement async transaction: the transaction's lock would be held
across several hops between the event loop and a worker thread, each queued behind the other
requests on the loop, so under load the lock time (and every writer's wait) grew with the
load. Here BEGIN ... COMMIT is one function on the writer thread: the lock is held for the
transaction's own few hundred microseconds. The single thread also keeps transactions in
submission order, and a transaction whose caller was cancelled still finishes (committed or
rolled back), so nothing is ever left half open.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from core.storage.base import Delete, Put, UpdateFn, WriteOp

T = TypeVar("T")

_GET = "SELECT value FROM kv WHERE key = ?"
_PUT = (
    "INSERT INTO kv (key, value) VALUES (?, ?)"
    " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)
_DELETE = "DELETE FROM kv WHERE key = ?"


def check_value(value: object) -> None:
    if not isinstance(value, bytes):
        raise TypeError(f"storage values are bytes, not {type(value).__name__}")


def check_ops(ops: Sequence[WriteOp]) -> None:
    """Refuse a bad op before anything runs, so a batch is applied whole or not at all."""
    for op in ops:
        if isinstance(op, Put):
            check_value(op.value)
        elif not isinstance(op, Delete):
            raise TypeError(f"not a write op: {op!r}")


class WriterThread:
    def __init__(
        self, connection: sqlite3.Connection, executor: ThreadPoolExecutor, busy_timeout: float
    ) -> None:
        self._db = connection
        self._executor = executor
        self._busy_timeout = busy_timeout
        self._closed = False

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        setup: Callable[[sqlite3.Connection], None],
        busy_timeout: float,
    ) -> WriterThread:
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wardgate-sqlite-writer")

        def connect() -> sqlite3.Connection:
            # isolation_level=None: this module issues BEGIN/COMMIT itself. The busy timeout
            # covers the setup statements; transactions wait in `_begin` instead.
            db = sqlite3.connect(
                os.fspath(path), timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
            try:
                setup(db)
                db.execute("PRAGMA busy_timeout = 0")
            except BaseException:
                db.close()
                raise
            return db

        try:
            db = await asyncio.get_running_loop().run_in_executor(executor, connect)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return cls(db, executor, busy_timeout)

    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def write(self, ops: Sequence[WriteOp]) -> None:
        batch = list(ops)
        check_ops(batch)
        await self._run(lambda: self._transaction(lambda: self._apply_all(batch)))

    async def update(
        self, key: str, fn: UpdateFn, also: Sequence[WriteOp]
    ) -> tuple[bytes | None, bytes | None]:
        extra = list(also)
        check_ops(extra)

        def body() -> tuple[bytes | None, bytes | None]:
            row = self._db.execute(_GET, (key,)).fetchone()
            old = None if row is None else row[0]
            if old is not None and not isinstance(old, bytes):
                raise TypeError(f"kv.value is {type(old).__name__}, not bytes")
            new = fn(old)  # runs here, inside the transaction; a raise rolls back
            if new is None:
                self._db.execute(_DELETE, (key,))
            else:
                check_value(new)
                self._db.execute(_PUT, (key, new))
            self._apply_all(extra)
            return old, new

        return await self._run(lambda: self._transaction(body))

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open on the writer (diagnostics and tests)."""
        return self._db.in_transaction

    async def setting(self, pragma: str) -> object:
        """A PRAGMA's value on the writer connection, e.g. `synchronous` (diagnostics)."""
        if not pragma.isidentifier():
            raise ValueError(f"not a pragma name: {pragma!r}")
        row = await self._run(lambda: self._db.execute(f"PRAGMA {pragma}").fetchone())
        return None if row is None else row[0]

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._run(self._db.close)
        self._executor.shutdown(wait=True)

    # -- on the writer thread ----------------------------------------------------------------

    def _transaction(self, body: Callable[[], T]) -> T:
        self._begin()
        try:
            result = body()
            self._db.execute("COMMIT")
        except BaseException:
            self._db.rollback()  # a no-op when no transaction is open
            raise
        return result

    def _begin(self) -> None:
        """BEGIN IMMEDIATE (the write lock now, so the transaction is atomic across processes),
        waiting for another process's lock in short steps: SQLite's own busy handler sleeps
        up to 100 ms at a time, which made the slowest requests wait that long."""
        deadline = time.monotonic() + self._busy_timeout
        delay = 0.0002
        while True:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                busy = "locked" in str(exc) or "busy" in str(exc)
                if not busy or time.monotonic() >= deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 0.002)

    def _apply_all(self, ops: Sequence[WriteOp]) -> None:
        for op in ops:
            if isinstance(op, Put):
                self._db.execute(_PUT, (op.key, op.value))
            else:
                self._db.execute(_DELETE, (op.key,))
