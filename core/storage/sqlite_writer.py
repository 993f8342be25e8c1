"""The SQLite write side: one dedicated thread runs every transaction, and commits them in groups.

Why a thread that runs whole transactions: with statement-by-statement async transactions the
write lock was held across several hops between the event loop and a worker thread, each queued
behind the other requests on the loop, so under load the lock time (and every writer's wait)
grew with the load. Here BEGIN ... COMMIT runs in one go on the writer thread.

Why group commit: with `synchronous = FULL` each commit waits for an fsync, and a process could
commit no faster than its disk flushes. The writer takes every transaction that is waiting when
it starts and runs them in one SQLite transaction, each inside its own SAVEPOINT (a failing one
is rolled back alone, the others keep their effects), then commits once: one fsync for all.
Callers are answered only after that commit, so "returned" still means "durable". Under no
load a batch holds one transaction and nothing changes; under load the batches grow by
themselves, since requests arrive while the previous fsync runs, and transactions that arrive
while a batch waits for another process's write lock join it once the lock is taken (logins
with two workers: 1,120 -> 1,280/s). A batch that commits without an fsync (only
`durable=False` writes) never takes in a durable one.

Transactions run in submission order, so each sees the effects of those before it (the
ordering a single connection would give), and a transaction whose caller was cancelled still
finishes (committed or rolled back): nothing is ever left half open.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from core.storage.base import Put, UpdateFn, WriteOp, check_ops, check_value

T = TypeVar("T")

_GET = "SELECT value FROM kv WHERE key = ?"
_PUT = (
    "INSERT INTO kv (key, value) VALUES (?, ?)"
    " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)
_DELETE = "DELETE FROM kv WHERE key = ?"

# Enough to absorb a burst in one fsync, small enough that one batch never holds SQLite's
# write lock (which other processes wait for) for long.
MAX_BATCH = 256


class _Job:
    """One unit of work for the writer thread and the future its caller awaits."""

    __slots__ = ("body", "durable", "future", "outcome", "transactional")

    def __init__(
        self,
        body: Callable[[], Any],
        future: asyncio.Future[Any],
        *,
        transactional: bool,
        durable: bool = True,
    ) -> None:
        self.body = body
        self.future = future
        self.transactional = transactional
        self.durable = durable
        self.outcome: tuple[bool, Any] = (False, None)  # (succeeded, result or exception)


class _Stop:
    """Queued by close(): the thread finishes what was queued before it, then exits."""


_STOP = _Stop()


class WriterThread:
    def __init__(
        self,
        connection: sqlite3.Connection,
        loop: asyncio.AbstractEventLoop,
        busy_timeout: float,
        full_sync: bool,
    ) -> None:
        self._db = connection
        self._loop = loop
        self._busy_timeout = busy_timeout
        # Only a FULL connection has an fsync to skip for `durable=False` batches.
        self._full_sync = full_sync
        self._jobs: queue.SimpleQueue[_Job | _Stop] = queue.SimpleQueue()
        self._put_back: _Job | _Stop | None = None  # the writer thread's own look-ahead
        self._closed = False
        self._thread = threading.Thread(
            target=self._serve, name="wardgate-sqlite-writer", daemon=True
        )
        self._thread.start()

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        setup: Callable[[sqlite3.Connection], None],
        busy_timeout: float,
    ) -> WriterThread:
        def connect() -> tuple[sqlite3.Connection, bool]:
            # isolation_level=None: this module issues BEGIN/COMMIT itself. The busy timeout
            # covers the setup statements; transactions wait in `_begin` instead.
            db = sqlite3.connect(
                os.fspath(path), timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
            try:
                setup(db)
                db.execute("PRAGMA busy_timeout = 0")
                row = db.execute("PRAGMA synchronous").fetchone()
            except BaseException:
                db.close()
                raise
            return db, row is not None and row[0] == 2  # 2: FULL

        loop = asyncio.get_running_loop()
        db, full_sync = await asyncio.to_thread(connect)
        return cls(db, loop, busy_timeout, full_sync)

    def _submit(
        self, body: Callable[[], T], *, transactional: bool = True, durable: bool = True
    ) -> asyncio.Future[T]:
        if self._closed:
            raise RuntimeError("the storage is closed")
        future: asyncio.Future[T] = self._loop.create_future()
        self._jobs.put(_Job(body, future, transactional=transactional, durable=durable))
        return future

    async def write(self, ops: Sequence[WriteOp]) -> None:
        batch = list(ops)
        check_ops(batch)
        await self._submit(lambda: self._apply_all(batch))

    async def update(
        self, key: str, fn: UpdateFn, also: Sequence[WriteOp], *, durable: bool = True
    ) -> tuple[bytes | None, bytes | None]:
        extra = list(also)
        check_ops(extra)

        def body() -> tuple[bytes | None, bytes | None]:
            row = self._db.execute(_GET, (key,)).fetchone()
            old = None if row is None else row[0]
            if old is not None and not isinstance(old, bytes):
                raise TypeError(f"kv.value is {type(old).__name__}, not bytes")
            new = fn(old)  # runs here, inside the transaction; a raise rolls it back
            if new is None:
                self._db.execute(_DELETE, (key,))
            else:
                check_value(new)
                self._db.execute(_PUT, (key, new))
            self._apply_all(extra)
            return old, new

        return await self._submit(body, durable=durable)

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open on the writer (diagnostics and tests)."""
        return self._db.in_transaction

    async def setting(self, pragma: str) -> object:
        """A PRAGMA's value on the writer connection, e.g. `synchronous` (diagnostics)."""
        if not pragma.isidentifier():
            raise ValueError(f"not a pragma name: {pragma!r}")

        def read() -> object:
            row = self._db.execute(f"PRAGMA {pragma}").fetchone()
            return None if row is None else row[0]

        return await self._submit(read, transactional=False)

    async def close(self) -> None:
        if self._closed:
            return
        done = self._submit(self._db.close, transactional=False)
        self._closed = True
        self._jobs.put(_STOP)
        await done
        await asyncio.to_thread(self._thread.join)

    # -- on the writer thread ----------------------------------------------------------------

    def _serve(self) -> None:
        while True:
            job = self._next(block=True)
            if job is None or isinstance(job, _Stop):  # (a blocking read is never None)
                return
            if not job.transactional:
                self._run_plain(job)
                self._deliver([job])
                continue
            batch = [job]
            self._take_more(batch, durable_ok=True)
            self._run_batch(batch)
            self._deliver(batch)

    def _next(self, *, block: bool) -> _Job | _Stop | None:
        if self._put_back is not None:
            job, self._put_back = self._put_back, None
            return job
        if block:
            return self._jobs.get()
        try:
            return self._jobs.get_nowait()
        except queue.Empty:
            return None

    def _take_more(self, batch: list[_Job], *, durable_ok: bool) -> None:
        """Add the transactions waiting in the queue to `batch`, in order, up to the first one
        that cannot join it (not a transaction, or durable when the batch commits without an
        fsync): that one is put back and runs next."""
        while len(batch) < MAX_BATCH:
            nxt = self._next(block=False)
            if nxt is None:
                return
            if isinstance(nxt, _Stop) or not nxt.transactional or (nxt.durable and not durable_ok):
                self._put_back = nxt
                return
            batch.append(nxt)

    def _run_plain(self, job: _Job) -> None:
        try:
            job.outcome = (True, job.body())
        except BaseException as exc:
            job.outcome = (False, exc)

    def _run_batch(self, batch: list[_Job]) -> None:
        """Run `batch` in one transaction; each job's outcome is set, none is left unset."""
        relaxed = self._full_sync and not any(job.durable for job in batch)
        try:
            if relaxed:
                self._db.execute("PRAGMA synchronous = NORMAL")
            self._begin()
        except BaseException as exc:
            self._restore(relaxed)
            for job in batch:
                job.outcome = (False, exc)
            return
        # Transactions that arrived while this one waited for the lock join it: one commit
        # (and one wait for the other process) fewer. The durability is fixed by now.
        self._take_more(batch, durable_ok=not relaxed)
        try:
            rest = self._run_jobs(batch)
            if self._db.in_transaction:  # not when SQLite rolled it all back (see _run_jobs)
                self._db.execute("COMMIT")
        except BaseException as exc:
            self._db.rollback()  # a no-op when SQLite already rolled back
            for job in batch:
                if job.outcome[0] or job.outcome[1] is None:
                    job.outcome = (False, exc)
            return
        finally:
            self._restore(relaxed)
        if rest:
            self._run_batch(rest)

    def _run_jobs(self, batch: list[_Job]) -> list[_Job]:
        """Run the jobs inside the open transaction. Returns the jobs still to run if SQLite
        rolled the whole transaction back (an I/O error, a full disk): the jobs before have lost
        their effects and fail with that error, the rest get a fresh transaction."""
        alone = len(batch) == 1  # no savepoint needed: a failure rolls back the transaction
        for index, job in enumerate(batch):
            if not alone:
                self._db.execute("SAVEPOINT job")
            try:
                result = job.body()
            except BaseException as exc:
                job.outcome = (False, exc)
                if not self._db.in_transaction:
                    for earlier in batch[:index]:
                        earlier.outcome = (False, exc)
                    return batch[index + 1 :]
                if alone:
                    raise  # roll the transaction back; the outcome is already this error
                self._db.execute("ROLLBACK TO job")
                self._db.execute("RELEASE job")
                continue
            if not alone:
                self._db.execute("RELEASE job")
            job.outcome = (True, result)
        return []

    def _restore(self, relaxed: bool) -> None:
        if relaxed:
            self._db.execute("PRAGMA synchronous = FULL")

    def _deliver(self, jobs: list[_Job]) -> None:
        # One wake-up of the event loop per batch, not per job. A closed loop (RuntimeError)
        # has nobody left to answer.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(_settle, jobs)

    def _begin(self) -> None:
        """BEGIN IMMEDIATE (the write lock now, so the transaction is atomic across processes),
        waiting for another process's lock in short steps: SQLite's own busy handler sleeps
        up to 100 ms at a time, which made the slowest requests wait that long. The other
        process holds the lock for about one commit (an fsync), so poll at that scale."""
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
            delay = min(delay * 2, 0.0005)

    def _apply_all(self, ops: Sequence[WriteOp]) -> None:
        for op in ops:
            if isinstance(op, Put):
                self._db.execute(_PUT, (op.key, op.value))
            else:
                self._db.execute(_DELETE, (op.key,))


def _settle(jobs: list[_Job]) -> None:
    """On the event loop: hand each caller its outcome (a cancelled caller is skipped)."""
    for job in jobs:
        if job.future.done():
            continue
        succeeded, value = job.outcome
        if succeeded:
            job.future.set_result(value)
        else:
            job.future.set_exception(value)
