"""wardgate's key-value storage: the contract (see `base`) and a factory for its backends.

A backend is one module with a class that satisfies `Storage`, plus one branch in
`open_storage`. Backend modules are imported only when chosen, so a backend's driver
(aiosqlite for "sqlite", asyncpg for "postgresql") is loaded only by deployments that use it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.storage.base import (
    Delete,
    Put,
    Storage,
    StorageUnavailable,
    StorageView,
    UpdateFn,
    WriteOp,
)
from core.storage.options import PostgresOptions

if TYPE_CHECKING:
    from core.config import StorageConfig

BACKENDS = ("memory", "sqlite", "postgresql")


async def open_configured(config: StorageConfig) -> Storage:
    """Open the storage a `[storage]` table describes (secrets in it resolved here)."""
    from core.config import duration, resolve_secret

    postgres = None
    if config.backend == "postgresql":
        postgres = PostgresOptions(
            dsn=resolve_secret(config.dsn, "storage.dsn") or "",
            pool_min=config.pool_min,
            pool_max=config.pool_max,
            connect_timeout=duration(config.connect_timeout, "storage.connect_timeout"),
            statement_timeout=duration(config.statement_timeout, "storage.statement_timeout"),
        )
    return await open_storage(
        config.backend, config.path, synchronous=config.synchronous, postgres=postgres
    )


async def open_storage(
    backend: str,
    path: str | None,
    *,
    synchronous: str = "full",
    postgres: PostgresOptions | None = None,
) -> Storage:
    """Open the storage named by configuration.

    `path` is the database file for "sqlite" and is ignored by the others. `synchronous` is
    SQLite's durability level, "full" (survives power loss) or "normal" (survives a crash
    of the process only). `postgres` holds the DSN and pool settings of "postgresql".
    """
    if backend == "postgresql":
        if postgres is None or not postgres.dsn:
            raise ValueError("the postgresql storage backend needs a dsn")
        from core.storage.postgres import PostgresStorage

        return await PostgresStorage.open(postgres)
    if backend == "memory":
        from core.storage.memory import MemoryStorage

        return MemoryStorage()
    if backend == "sqlite":
        if not path:
            raise ValueError("the sqlite storage backend needs a database path")
        from core.storage.sqlite import SQLiteStorage

        return await SQLiteStorage.open(path, synchronous)
    raise ValueError(f"unknown storage backend {backend!r}; expected one of: {', '.join(BACKENDS)}")


async def check_storage(backend: str, path: str | None) -> None:
    """Everything about the configured storage that can be checked before it is opened (the
    server's start-up runs this before it initialises anything); raises StorageUnavailable
    naming what and where. SQLite: the data directory and the database file, created private
    (0700/0600) when missing."""
    if backend == "sqlite":
        if not path:
            raise StorageUnavailable("the sqlite storage backend needs storage.path")
        from core.storage.sqlite_files import prepare_database_file

        prepare_database_file(path)


__all__ = [
    "BACKENDS",
    "Delete",
    "PostgresOptions",
    "Put",
    "Storage",
    "StorageUnavailable",
    "StorageView",
    "UpdateFn",
    "WriteOp",
    "check_storage",
    "open_configured",
    "open_storage",
]
