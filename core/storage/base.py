"""The storage contract every backend implements.

wardgate keeps all state (mounts, tokens, roles, nonces) in one small key-value space with
bytes values. Keys are `/`-separated strings; a mount's storage view is a key prefix.

Rules every implementation keeps:
- A write has been made durable when its coroutine returns (an acknowledged write survives
  `kill -9` of the process).
- No implementation caches values in process memory: several server processes may share one
  database and must see each other's writes at once.
- `update` is atomic across processes: two concurrent updates of one key never both see the same
  old value. Its function may be called more than once (a backend retries a transaction that
  lost a race or a serialization check); only the call whose result is committed counts.
- A backend that cannot reach its database raises `StorageUnavailable` (503), never hangs: no
  write of the failed call is half applied, and the backend logs the outage once.
"""

from __future__ import annotations

import builtins
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Protocol

import msgspec


class Put(msgspec.Struct, frozen=True):
    key: str
    value: bytes


class Delete(msgspec.Struct, frozen=True):
    key: str


WriteOp = Put | Delete


def check_value(value: object) -> None:
    """Only bytes are stored: a bytearray kept by the memory backend could be changed by its
    owner afterwards (SQLite would have copied it), so both backends refuse anything else."""
    if not isinstance(value, bytes):
        raise TypeError(f"storage values are bytes, not {type(value).__name__}")


def check_ops(ops: Sequence[WriteOp]) -> None:
    """Refuse a bad op before anything runs, so a batch is applied whole or not at all."""
    for op in ops:
        if isinstance(op, Put):
            check_value(op.value)
        elif not isinstance(op, Delete):
            raise TypeError(f"not a write op: {op!r}")


# An update function sees the current value (None when absent) and returns the new value
# (None deletes the key). It may raise to abort the update without writing anything.
UpdateFn = Callable[[bytes | None], bytes | None]


class Storage(Protocol):
    async def get(self, key: str) -> bytes | None:
        """The value at `key`, or None."""
        ...

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """The values at `keys`, in their order (None where absent), read as one statement:
        the server's per-request tables cost one round trip, not one each."""
        ...

    async def put(self, key: str, value: bytes) -> None: ...

    async def delete(self, key: str) -> None:
        """Remove `key`; removing a missing key is not an error."""
        ...

    async def list(self, prefix: str, *, after: str = "", limit: int | None = None) -> list[str]:
        """Keys that start with `prefix`, with the prefix removed, in byte order.

        Only keys sorting after `prefix + after` are returned (for paging and range scans);
        at most `limit` of them when a limit is given.
        """
        ...

    async def write(self, ops: Sequence[WriteOp]) -> None:
        """Apply several puts and deletes atomically: all of them or none."""
        ...

    async def update(
        self,
        key: str,
        fn: UpdateFn,
        *,
        also: Sequence[WriteOp] = (),
        durable: bool = True,
        likely_absent: bool = False,
    ) -> tuple[bytes | None, bytes | None]:
        """Atomic read-modify-write of one key. Returns (old value, new value).

        `also` are further writes committed in the same transaction, only if `fn` succeeds
        (one commit instead of two, e.g. an entry and its index).

        `durable=False` relaxes the rule above for this one write: it survives a killed
        process and is visible to every process at once, but a power cut may lose it unless a
        durable write (by any process) was acknowledged after it: durable writes persist all
        that was committed before them. For records whose loss is harmless as long as nothing
        durable followed them (a login nonce: see plugins/alicloud/nonce.py). SQLite: the
        commit skips its fsync. PostgreSQL: the transaction runs with `synchronous_commit =
        off` (the commit returns before its WAL is flushed; a crash of the database server,
        not of wardgate, may lose it).

        `likely_absent=True` says the key usually does not exist yet (a login nonce): a backend
        may then first try to create it with `fn(None)` and `also` in one statement, and only if
        the key exists run the update as usual (calling `fn` again, with the stored value). So
        `fn(None)` must have no side effects; the result is the same either way.
        """
        ...

    async def ping(self) -> None:
        """Raise StorageUnavailable unless the database answers now (start-up pre-flight,
        `sys/health`). Cheap: one round trip at most."""
        ...

    def exclusive(self, name: str) -> contextlib.AbstractAsyncContextManager[bool]:
        """`async with storage.exclusive("sweep") as mine:` is True in at most one process
        sharing the database at a time (False at once elsewhere, never waiting), so periodic
        work runs on one node per round instead of racing on all of them."""
        ...

    async def close(self) -> None: ...


@contextlib.asynccontextmanager
async def always_mine(name: str) -> AsyncIterator[bool]:
    """`exclusive` of a backend with a single process per database (or none to share with)."""
    del name
    yield True


class StorageView:
    """A storage confined to the keys under `prefix` (a mount's own space)."""

    __slots__ = ("_inner", "_prefix")

    def __init__(self, inner: Storage, prefix: str) -> None:
        self._inner = inner
        self._prefix = prefix

    @property
    def prefix(self) -> str:
        return self._prefix

    def sub(self, prefix: str) -> StorageView:
        return StorageView(self._inner, self._prefix + prefix)

    async def get(self, key: str) -> bytes | None:
        return await self._inner.get(self._prefix + key)

    async def get_many(self, keys: Sequence[str]) -> builtins.list[bytes | None]:
        return await self._inner.get_many([self._prefix + key for key in keys])

    async def put(self, key: str, value: bytes) -> None:
        await self._inner.put(self._prefix + key, value)

    async def delete(self, key: str) -> None:
        await self._inner.delete(self._prefix + key)

    async def list(self, prefix: str, *, after: str = "", limit: int | None = None) -> list[str]:
        return await self._inner.list(self._prefix + prefix, after=after, limit=limit)

    async def write(self, ops: Sequence[WriteOp]) -> None:
        await self._inner.write(self.prefixed(ops))

    def prefixed(self, ops: Sequence[WriteOp]) -> builtins.list[WriteOp]:
        """`ops` with this view's prefix: as the storage beneath sees them."""
        return [
            Put(self._prefix + op.key, op.value)
            if isinstance(op, Put)
            else Delete(self._prefix + op.key)
            for op in ops
        ]

    async def update(
        self,
        key: str,
        fn: UpdateFn,
        *,
        also: Sequence[WriteOp] = (),
        durable: bool = True,
        likely_absent: bool = False,
    ) -> tuple[bytes | None, bytes | None]:
        return await self._inner.update(
            self._prefix + key,
            fn,
            also=self.prefixed(also),
            durable=durable,
            likely_absent=likely_absent,
        )

    async def ping(self) -> None:
        await self._inner.ping()

    def exclusive(self, name: str) -> contextlib.AbstractAsyncContextManager[bool]:
        return self._inner.exclusive(self._prefix + name)

    async def close(self) -> None:
        """A view does not own the storage beneath it."""


class StorageUnavailable(Exception):
    """Storage cannot be used as configured (a path, a permission, a server): the message
    names what and where, and the server stops before it starts with one line. Raised while
    serving (a database server gone), the request gets 503 `storage unavailable` and never
    sees the message; the backend logs the outage once."""
