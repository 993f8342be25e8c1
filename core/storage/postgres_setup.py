"""PostgreSQL storage: options, the versioned schema, and what a failed start says.

The schema is migrated by the server itself when it opens the database. Several nodes may start
at the same instant on an empty database: the migration runs inside one transaction that first
takes a transaction-level advisory lock, so exactly one node creates the tables and the others
wait for it, then find the version current and do nothing.
"""

from __future__ import annotations

import dataclasses
import os
from urllib.parse import unquote, urlsplit

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from core.storage.base import StorageUnavailable

# The `wardgate_schema` table holds one row: the version below once migrated.
SCHEMA_VERSION = 1
# MIGRATIONS[i] takes a database from version i to version i + 1.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        # bytea keys: PostgreSQL compares bytea bytewise whatever the database's collation,
        # which is the byte order the contract promises; text would also refuse NUL.
        # fillfactor leaves room on each page so that rewriting a value in place (a token's
        # use count, a renewal) stays a HOT update that touches no index.
        "CREATE TABLE wardgate_kv (key bytea PRIMARY KEY, value bytea NOT NULL)"
        " WITH (fillfactor = 80)",
    ),
)
# A constant key for pg_advisory_xact_lock ("wardgate" in ASCII): serialises migrations.
MIGRATION_LOCK = 0x7761726467617465


@dataclasses.dataclass(frozen=True, slots=True)
class Target:
    """Where a DSN points, for messages: never the password."""

    host: str
    port: str
    database: str
    user: str

    @classmethod
    def of(cls, dsn: str) -> Target:
        # libpq's environment defaults fill what the DSN leaves out, as asyncpg does.
        try:
            parts = urlsplit(dsn)
            port = str(parts.port or os.environ.get("PGPORT") or 5432)
        except ValueError:
            return cls("?", "?", "?", "?")
        user = unquote(parts.username or "") or os.environ.get("PGUSER") or "postgres"
        return cls(
            host=parts.hostname or os.environ.get("PGHOST") or "localhost",
            port=port,
            database=unquote(parts.path.lstrip("/")) or os.environ.get("PGDATABASE") or user,
            user=user,
        )

    def __str__(self) -> str:
        return f'database "{self.database}" on {self.host}:{self.port} (user "{self.user}")'


def start_failure(target: Target, exc: BaseException) -> StorageUnavailable:
    """One line that names the database, the host and the problem (the server prints it)."""
    where = f"cannot open PostgreSQL {target}"
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        reason = f'database "{target.database}" does not exist'
    elif isinstance(exc, asyncpg.InvalidPasswordError):
        reason = "password authentication failed"
    elif isinstance(exc, asyncpg.InvalidAuthorizationSpecificationError):
        reason = f"access refused: {exc}"
    elif isinstance(exc, TimeoutError):
        reason = "no answer within connect_timeout"
    elif isinstance(exc, OSError):
        reason = exc.strerror or str(exc) or type(exc).__name__
    elif isinstance(exc, ValueError | asyncpg.ClientConfigurationError):
        return StorageUnavailable(f"storage.dsn is not a valid PostgreSQL DSN: {exc}")
    else:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return StorageUnavailable(f"{where}: {reason}")


async def migrate(conn: PoolConnectionProxy[asyncpg.Record]) -> None:
    """Bring the schema to SCHEMA_VERSION (see the module docstring)."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        await conn.execute("CREATE TABLE IF NOT EXISTS wardgate_schema (version integer NOT NULL)")
        version = int(await conn.fetchval("SELECT coalesce(max(version), 0) FROM wardgate_schema"))
        if version > SCHEMA_VERSION:
            raise StorageUnavailable(
                f"the database schema is version {version}, newer than this wardgate knows "
                f"({SCHEMA_VERSION}): upgrade wardgate"
            )
        for step in MIGRATIONS[version:]:
            for statement in step:
                await conn.execute(statement)
        if version < SCHEMA_VERSION:
            await conn.execute("DELETE FROM wardgate_schema")
            await conn.execute("INSERT INTO wardgate_schema VALUES ($1)", SCHEMA_VERSION)
