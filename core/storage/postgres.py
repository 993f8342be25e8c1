"""PostgreSQL storage: several stateless wardgate nodes on one database.

Design notes (the why behind the shape of this module):
- One table, `wardgate_kv (key bytea PRIMARY KEY, value bytea)`: the same key-value space as
  SQLite, so every store above (tokens, policies, mounts, plugins) is unchanged. `list` is a
  range scan on the primary key, the expiry indexes included.
- asyncpg's pool, one per server process. Statements are prepared once per connection (asyncpg's
  statement cache). The pool's reset on release is only a ROLLBACK when a transaction was left
  open: the default reset (RESET ALL, UNLISTEN, ...) would cost a round trip per operation, and
  nothing here changes session state (`exclusive` releases its lock itself).
- `put`, `delete` and `write` are each one statement (a data-modifying CTE for a batch), so they
  are atomic without BEGIN/COMMIT round trips. `update` is a READ COMMITTED transaction: SELECT
  ... FOR UPDATE locks an existing row; a missing key has no row to lock, so its first value is
  an INSERT ... ON CONFLICT DO NOTHING, and losing that race re-runs the transaction (the
  function then sees the winner's value). The key's write and the `also` writes are one
  statement, so an update costs four round trips (BEGIN, SELECT, the writes, COMMIT); one with
  `likely_absent` (a login nonce) first tries to create the key and its `also` writes in one
  statement, one round trip, and runs the transaction only if the key exists.
- `durable=False` is `SET LOCAL synchronous_commit = off` for that one transaction: the commit
  returns before its WAL record is flushed. It is visible to every node at once and survives a
  wardgate crash; a crash of PostgreSQL itself may lose it (at most ~3 x wal_writer_delay), and
  since WAL is flushed in order, any durable commit acknowledged after it persists it too.
- SQLSTATE 40001 (serialization failure) and 40P01 (deadlock) roll the transaction back on the
  server, so it is re-run, a bounded number of times with jittered backoff: the backend also
  suits PostgreSQL-compatible databases that run everything SERIALIZABLE.
- A lost or unreachable database is StorageUnavailable (503) within connect_timeout +
  statement_timeout, logged once per outage. Reads are retried once on a fresh connection (a
  pooled connection may have died while idle); a write whose connection died is not retried,
  since its commit may or may not have happened: the caller gets 503 and nothing half-written
  (every call is one transaction).
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import hashlib
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Self, TypeAlias, TypeVar

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from core.storage.base import (
    Delete,
    Put,
    StorageUnavailable,
    UpdateFn,
    WriteOp,
    check_ops,
    check_value,
)
from core.storage.options import PostgresOptions
from core.storage.postgres_setup import Target, migrate, start_failure

log = logging.getLogger("wardgate.storage")

T = TypeVar("T")
# What the pool hands out (it forwards every Connection method).
Conn: TypeAlias = "PoolConnectionProxy[asyncpg.Record]"

_GET = "SELECT value FROM wardgate_kv WHERE key = $1"
_GET_MANY = "SELECT key, value FROM wardgate_kv WHERE key = ANY($1::bytea[])"
_GET_FOR_UPDATE = "SELECT value FROM wardgate_kv WHERE key = $1 FOR UPDATE"
_INSERT_NEW = (
    "INSERT INTO wardgate_kv (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING RETURNING 1"
)
_SET = "UPDATE wardgate_kv SET value = $2 WHERE key = $1"
_PUT = (
    "INSERT INTO wardgate_kv (key, value) VALUES ($1, $2)"
    " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)
_DELETE = "DELETE FROM wardgate_kv WHERE key = $1"
# A batch: deletes and upserts of distinct keys in one statement (so one atomic snapshot).
_WRITE = (
    "WITH gone AS (DELETE FROM wardgate_kv WHERE key = ANY($1::bytea[]))"
    " INSERT INTO wardgate_kv (key, value) SELECT * FROM unnest($2::bytea[], $3::bytea[])"
    " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)
# A first value and further writes (`update`'s `also`, keys other than $1) in one statement;
# returns 0 when another transaction created $1 first (the caller rolls back and re-runs).
_INSERT_NEW_AND_WRITE = (
    "WITH created AS (INSERT INTO wardgate_kv (key, value) VALUES ($1, $2)"
    " ON CONFLICT (key) DO NOTHING RETURNING 1),"
    " gone AS (DELETE FROM wardgate_kv WHERE key = ANY($3::bytea[])),"
    " put AS (INSERT INTO wardgate_kv (key, value) SELECT * FROM unnest($4::bytea[], $5::bytea[])"
    " ON CONFLICT (key) DO UPDATE SET value = excluded.value)"
    " SELECT count(*) FROM created"
)
# `update(likely_absent=True)`'s first try: create $1 and apply the `also` writes in one
# statement (one implicit transaction), the writes only if $1 was created; returns 0 when $1
# exists (then the update runs as a transaction). {quiet}: synchronous_commit off for it.
_CREATE = (
    "WITH created AS (INSERT INTO wardgate_kv (key, value) SELECT $1::bytea, $2::bytea{quiet}"
    " ON CONFLICT (key) DO NOTHING RETURNING 1),"
    " gone AS (DELETE FROM wardgate_kv WHERE key = ANY($3::bytea[])"
    " AND EXISTS (SELECT 1 FROM created)),"
    " put AS (INSERT INTO wardgate_kv (key, value)"
    " SELECT * FROM unnest($4::bytea[], $5::bytea[]) WHERE EXISTS (SELECT 1 FROM created)"
    " ON CONFLICT (key) DO UPDATE SET value = excluded.value)"
    " SELECT count(*) FROM created"
)
_CREATE_DURABLE = _CREATE.format(quiet="")
# set_config(..., true) lasts until the end of this statement's implicit transaction, so its
# commit is asynchronous (as `SET LOCAL` in `update`'s transaction); it runs before the row is
# made, and the `also` writes wait for that row.
_CREATE_QUIETLY = _CREATE.format(
    quiet=" FROM (SELECT set_config('synchronous_commit', 'off', true)) AS quiet"
)
_LIST_BOUNDED = "SELECT key FROM wardgate_kv WHERE key > $1 AND key < $2 ORDER BY key LIMIT $3"
_LIST_UNBOUNDED = "SELECT key FROM wardgate_kv WHERE key > $1 ORDER BY key LIMIT $2"

# Errors that mean "the database is not there right now" (as opposed to a bug in a query).
_UNREACHABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,  # 08xxx
    asyncpg.InterfaceError,  # the connection is closed / was lost mid-call
    asyncpg.OperatorInterventionError,  # 57xxx: terminated, shutting down, cancelled
    asyncpg.InsufficientResourcesError,  # 53xxx: too many connections, disk full
    # A pooled connection whose server end was terminated while idle can be handed out
    # before asyncpg has noticed; its next call then fails with this.
    asyncpg.InternalClientError,
)
_RETRY_SERIALIZATION = (asyncpg.SerializationError, asyncpg.DeadlockDetectedError)
MAX_ATTEMPTS = 8


class _LostInsertRace(Exception):
    """Another transaction created the key first: run the update again on its value."""


async def _reset(conn: Any) -> None:
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


def _lock_id(name: str) -> int:
    """A stable signed 64-bit advisory lock id for `name`."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), signed=True)


def _upper_bound(prefix: bytes) -> bytes | None:
    """The smallest byte string above every string starting with `prefix` (None: no bound).
    UTF-8 never contains 0xff, but a bound must hold for any bytes."""
    stem = prefix.rstrip(b"\xff")
    return stem[:-1] + bytes([stem[-1] + 1]) if stem else None


class PostgresStorage:
    """Storage in one PostgreSQL table; see the module docstring for the design."""

    def __init__(self, pool: asyncpg.Pool, options: PostgresOptions, target: Target) -> None:
        """Use `await PostgresStorage.open(options)`."""
        self._pool = pool
        self._target = target
        self._acquire_timeout = options.connect_timeout
        self._down_since: float | None = None

    @classmethod
    async def open(cls, options: PostgresOptions) -> Self:
        """Connect, migrate the schema, and fill the pool. A database that cannot be used is
        StorageUnavailable with one line naming it (the server prints it and exits)."""
        target = Target.of(options.dsn)
        # The pool logs a traceback each time it fails to restore its minimum size during an
        # outage; the outage is already one line of ours (`_lost`).
        logging.getLogger("asyncpg.pool").setLevel(logging.ERROR)
        try:
            pool = await asyncpg.create_pool(
                options.dsn,
                min_size=min(options.pool_min, options.pool_max),
                max_size=options.pool_max,
                timeout=options.connect_timeout,
                # The client-side bound also covers a database that stops answering at all.
                command_timeout=options.statement_timeout + 1,
                server_settings={
                    "application_name": "wardgate",
                    "statement_timeout": str(int(options.statement_timeout * 1000)),
                },
                reset=_reset,
            )
        except StorageUnavailable:
            raise
        except Exception as exc:
            raise start_failure(target, exc) from None
        try:
            async with pool.acquire(timeout=options.connect_timeout) as conn:
                await migrate(conn)
        except StorageUnavailable:
            await pool.close()
            raise
        except Exception as exc:
            pool.terminate()
            raise start_failure(target, exc) from None
        return cls(pool, options, target)

    # -- the contract ------------------------------------------------------------------------

    async def get(self, key: str) -> bytes | None:
        value: bytes | None = await self._run(
            lambda conn: conn.fetchval(_GET, key.encode()), retry_lost=True
        )
        return value

    async def get_many(self, keys: Sequence[str]) -> builtins.list[bytes | None]:
        wanted = [key.encode() for key in keys]
        rows = await self._run(lambda conn: conn.fetch(_GET_MANY, wanted), retry_lost=True)
        found = {bytes(row[0]): bytes(row[1]) for row in rows}
        return [found.get(key) for key in wanted]

    async def put(self, key: str, value: bytes) -> None:
        check_value(value)
        await self._run(lambda conn: conn.execute(_PUT, key.encode(), value))

    async def delete(self, key: str) -> None:
        await self._run(lambda conn: conn.execute(_DELETE, key.encode()))

    async def list(
        self, prefix: str, *, after: str = "", limit: int | None = None
    ) -> builtins.list[str]:
        if limit is not None and limit < 0:
            raise ValueError(f"limit must not be negative, got {limit}")
        if limit == 0:
            return []
        start = (prefix + after).encode()
        upper = _upper_bound(prefix.encode())

        def scan(conn: Conn) -> Awaitable[builtins.list[Any]]:
            if upper is None:
                return conn.fetch(_LIST_UNBOUNDED, start, limit)
            return conn.fetch(_LIST_BOUNDED, start, upper, limit)

        rows = await self._run(scan, retry_lost=True)
        cut = len(prefix)
        return [bytes(row[0]).decode()[cut:] for row in rows]

    async def write(self, ops: Sequence[WriteOp]) -> None:
        check_ops(ops)
        if ops:
            await self._run(lambda conn: conn.execute(_WRITE, *_batch(ops)))

    async def update(
        self,
        key: str,
        fn: UpdateFn,
        *,
        also: Sequence[WriteOp] = (),
        durable: bool = True,
        likely_absent: bool = False,
    ) -> tuple[bytes | None, bytes | None]:
        check_ops(also)
        raw_key = key.encode()
        also_keys = {op.key for op in also}
        if likely_absent and key not in also_keys:
            created = await self._create(raw_key, fn, also, durable)
            if created is not None:
                return None, created
        begin = "BEGIN" if durable else "BEGIN; SET LOCAL synchronous_commit = off"

        async def transaction(conn: Conn) -> tuple[bytes | None, bytes | None]:
            while True:
                await conn.execute(begin)
                try:
                    old: bytes | None = await conn.fetchval(_GET_FOR_UPDATE, raw_key)
                    new = fn(old)
                    if new is not None:
                        check_value(new)
                    # The key's write and `also` go in one statement where they can (one
                    # round trip less); `also` is applied after the key's write, as before.
                    if old is not None and also:
                        # The row is locked: its write is one more op of the batch.
                        mine = Put(key, new) if new is not None else Delete(key)
                        await conn.execute(_WRITE, *_batch([mine, *also]))
                    elif old is None and new is not None and also and key not in also_keys:
                        gone, keys, values = _batch(also)
                        created = await conn.fetchval(
                            _INSERT_NEW_AND_WRITE, raw_key, new, gone, keys, values
                        )
                        if not created:
                            raise _LostInsertRace
                    else:
                        if new is None:
                            if old is not None:
                                await conn.execute(_DELETE, raw_key)
                        elif old is None:
                            if await conn.fetchval(_INSERT_NEW, raw_key, new) is None:
                                raise _LostInsertRace
                        else:
                            await conn.execute(_SET, raw_key, new)
                        if also:
                            await conn.execute(_WRITE, *_batch(also))
                    await conn.execute("COMMIT")
                except _LostInsertRace:
                    await conn.execute("ROLLBACK")
                    continue
                except Exception:
                    # (The pool's reset rolls back after a cancellation.)
                    if not conn.is_closed() and conn.is_in_transaction():
                        with contextlib.suppress(Exception):
                            await conn.execute("ROLLBACK")
                    raise
                return old, new

        return await self._run(transaction)

    async def _create(
        self, raw_key: bytes, fn: UpdateFn, also: Sequence[WriteOp], durable: bool
    ) -> bytes | None:
        """`update` of a key that is likely absent, in one round trip instead of a transaction's
        four: `fn(None)` is created, with `also`, unless the key exists. Returns the value
        created, or None when the update must run as a transaction (the key exists, or
        `fn(None)` creates nothing or refuses: it then decides again on what is stored)."""
        try:
            new = fn(None)
            if new is None:
                return None
            check_value(new)
        except Exception:
            return None
        gone, keys, values = _batch(also)
        statement = _CREATE_DURABLE if durable else _CREATE_QUIETLY
        created = await self._run(
            lambda conn: conn.fetchval(statement, raw_key, new, gone, keys, values)
        )
        return new if created else None

    async def ping(self) -> None:
        await self._run(lambda conn: conn.fetchval("SELECT 1"), retry_lost=True)

    @contextlib.asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[bool]:
        # A session-level advisory lock on a connection held for the whole block: if this
        # node dies, its connection and so its lock go with it.
        lock = _lock_id("wardgate:" + name)
        try:
            conn = await self._pool.acquire(timeout=self._acquire_timeout)
        except _UNREACHABLE as exc:
            raise self._lost(exc) from None
        held = False
        try:
            try:
                held = bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", lock))
            except _UNREACHABLE as exc:
                raise self._lost(exc) from None
            yield held
            if held:
                with contextlib.suppress(*_UNREACHABLE):  # then `held` ends the session below
                    await conn.execute("SELECT pg_advisory_unlock($1)", lock)
                    held = False
        finally:
            # A connection that may still hold the lock never goes back to the pool; one
            # that died has taken its session (and lock) with it, and asyncpg may already
            # have detached it from the pool.
            with contextlib.suppress(asyncpg.InterfaceError):
                if held:
                    conn.terminate()
                await self._pool.release(conn)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._pool.close(), timeout=5)
        self._pool.terminate()

    # -- failures ----------------------------------------------------------------------------

    async def _run(self, work: Callable[[Conn], Awaitable[T]], *, retry_lost: bool = False) -> T:
        """Run `work` on a pooled connection: serialization failures and deadlocks are re-run,
        an unreachable database becomes StorageUnavailable (see the module docstring)."""
        attempt = 0
        while True:
            attempt += 1
            try:
                async with self._pool.acquire(timeout=self._acquire_timeout) as conn:
                    try:
                        result = await work(conn)
                    except _UNREACHABLE:
                        # Never back into the pool: it may be half-broken (or asyncpg has
                        # already detached it).
                        with contextlib.suppress(asyncpg.InterfaceError):
                            conn.terminate()
                        raise
            except _RETRY_SERIALIZATION as exc:
                if attempt >= MAX_ATTEMPTS:
                    raise StorageUnavailable(
                        f"PostgreSQL {self._target}: gave up after {attempt} attempts: {exc}"
                    ) from None
                await asyncio.sleep(random.uniform(0, 0.002 * 2**attempt))
                continue
            except _UNREACHABLE as exc:
                # A read may have drawn a connection that died while idle: one more try on a
                # fresh one. Not after a timeout, which a second try would only double.
                if retry_lost and attempt == 1 and not isinstance(exc, TimeoutError):
                    continue
                raise self._lost(exc) from None
            if self._down_since is not None:
                self._back()
            return result

    def _lost(self, exc: BaseException) -> StorageUnavailable:
        """Log the start of an outage (once), and the error to raise for this call."""
        if self._down_since is None:
            self._down_since = time.monotonic()
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            log.error(
                "storage unavailable: PostgreSQL %s: %s (%s); requests that need storage "
                "get 503 until it answers again",
                self._target,
                reason,
                type(exc).__name__,
            )
        return StorageUnavailable(f"PostgreSQL {self._target}: {type(exc).__name__}")

    def _back(self) -> None:
        assert self._down_since is not None
        log.warning(
            "storage available again: PostgreSQL %s answered after %.1f s",
            self._target,
            time.monotonic() - self._down_since,
        )
        self._down_since = None


def _batch(ops: Sequence[WriteOp]) -> tuple[list[bytes], list[bytes], list[bytes]]:
    """(keys to delete, keys to put, values) with the last op per key winning, keys sorted so
    that concurrent batches lock rows in one order (no deadlock between two of them)."""
    final: dict[str, bytes | None] = {}
    for op in ops:
        final[op.key] = op.value if isinstance(op, Put) else None
    gone: list[bytes] = []
    keys: list[bytes] = []
    values: list[bytes] = []
    for key in sorted(final):
        value = final[key]
        if value is None:
            gone.append(key.encode())
        else:
            keys.append(key.encode())
            values.append(value)
    return gone, keys, values
