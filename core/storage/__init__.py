"""wardgate's key-value storage: the contract (see `base`) and a factory for its backends.

A backend is one module with a class that satisfies `Storage`, plus one branch in
`open_storage`. Backend modules are imported only when chosen, so a backend's driver
(aiosqlite today, e.g. asyncpg for a future "postgresql") is needed only by deployments that
use it.
"""

from __future__ import annotations

from core.storage.base import Delete, Put, Storage, StorageView, UpdateFn, WriteOp

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


__all__ = [
    "BACKENDS",
    "Delete",
    "Put",
    "Storage",
    "StorageView",
    "UpdateFn",
    "WriteOp",
    "open_storage",
]
