"""wardgate's key-value storage: the contract (see `base`) and a factory for its backends.

A backend is one module with a class that satisfies `Storage`, plus one branch in
`open_storage`. Backend modules are imported only when chosen, so a backend's driver
(aiosqlite today, e.g. asyncpg for a future "postgresql") is needed only by deployments that
use it.
"""

from __future__ import annotations

from core.storage.base import (
    Delete,
    Put,
    Storage,
    StorageUnavailable,
    StorageView,
    UpdateFn,
    WriteOp,
)

BACKENDS = ("memory", "sqlite")


async def open_storage(backend: str, path: str | None, *, synchronous: str = "full") -> Storage:
    """Open the storage named by configuration.

    `path` is the database file for "sqlite" and is ignored by "memory". `synchronous` is
    SQLite's durability level, "full" (survives power loss) or "normal" (survives a crash
    of the process only).
    """
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
    "Put",
    "Storage",
    "StorageUnavailable",
    "StorageView",
    "UpdateFn",
    "WriteOp",
    "check_storage",
    "open_storage",
]
