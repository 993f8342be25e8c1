"""The real PostgreSQL server for tests: one throwaway database per test session.

`WARDGATE_TEST_PG_DSN` names an admin DSN (default: the machine's PostgreSQL as `postgres`,
trust auth). Each session creates `wardgate_test_<pid>_<random>` from it and drops it at the
end; tests that need an empty database (start-up, migrations) create their own the same way.
Without a PostgreSQL server the PostgreSQL tests are skipped, and the run's summary says so
in one line; with `CI` set they fail instead, so a CI machine cannot pass them by accident.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

DEFAULT_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
CONNECT_TIMEOUT = 3.0


def admin_dsn() -> str:
    return os.environ.get("WARDGATE_TEST_PG_DSN") or DEFAULT_ADMIN_DSN


def dsn_for(database: str, base: str | None = None) -> str:
    """The admin DSN pointed at another database (same host, user, options)."""
    parts = urlsplit(base or admin_dsn())
    return urlunsplit(parts._replace(path="/" + database))


class Unavailable:
    """Why PostgreSQL could not be used this session ("" = it could)."""

    reason: str | None = None  # None: not tried yet


async def _admin_async(sql: str) -> None:
    conn = await asyncpg.connect(admin_dsn(), timeout=CONNECT_TIMEOUT)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _admin(sql: str) -> None:
    """Run one admin statement from anywhere, an event loop's thread included (fixtures)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _admin_async(sql)).result()


def create_database(prefix: str = "wardgate_test") -> str:
    """Create an empty database; returns its name. Skips (or fails under CI) without one."""
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    if Unavailable.reason:
        _skip_or_fail()
    try:
        _admin(f'CREATE DATABASE "{name}"')
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        Unavailable.reason = f"{type(exc).__name__}: {exc}"
        _skip_or_fail()
    Unavailable.reason = ""
    return name


def drop_database(name: str) -> None:
    with contextlib.suppress(Exception):
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def throwaway_database(prefix: str = "wardgate_test") -> Iterator[str]:
    """A new empty database for the block; yields its DSN."""
    name = create_database(prefix)
    try:
        yield dsn_for(name)
    finally:
        drop_database(name)


def _skip_or_fail() -> None:
    message = f"no PostgreSQL at {_where()}: {Unavailable.reason}"
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI is set, so PostgreSQL tests must run)", pytrace=False)
    pytest.skip(message)


def _where() -> str:
    parts = urlsplit(admin_dsn())
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}"


def summary_line() -> str | None:
    """The one loud line for the end of the run when PostgreSQL tests were skipped."""
    if not Unavailable.reason:
        return None
    return (
        f"PostgreSQL tests SKIPPED: {_where()} did not answer ({Unavailable.reason}); "
        "start PostgreSQL or set WARDGATE_TEST_PG_DSN to an admin DSN"
    )


async def empty_store(dsn: str) -> None:
    """Empty the key-value table (if the schema exists yet): a clean store for the next test."""
    conn = await asyncpg.connect(dsn, timeout=CONNECT_TIMEOUT)
    try:
        await conn.execute(
            "DO $$ BEGIN IF to_regclass('wardgate_kv') IS NOT NULL THEN"
            " TRUNCATE wardgate_kv; END IF; END $$"
        )
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def connected(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(dsn, timeout=CONNECT_TIMEOUT)
    try:
        yield conn
    finally:
        await conn.close()
