"""In-process storage for tests and single-process development servers.

Data lives only as long as the process: the durability rule of the contract does not apply,
and neither does sharing between processes. Everything else (ordering, atomicity, list
semantics) matches the SQLite backend so that tests against this one mean something.
"""

from __future__ import annotations

import builtins
import contextlib
from bisect import bisect_right, insort
from collections.abc import Sequence

from core.storage.base import Put, UpdateFn, WriteOp, always_mine, check_ops, check_value


class MemoryStorage:
    """A dict for values plus a sorted key list, so `list` is a bisect and a short slice.

    No method awaits anything, so each one runs to completion before any other coroutine is
    scheduled: that alone makes `write` and `update` atomic here, without a lock.
    """

    __slots__ = ("_keys", "_values")

    def __init__(self) -> None:
        self._values: dict[str, bytes] = {}
        # Python orders str by code point, which is the same as UTF-8 byte order, so this
        # matches the byte order the contract promises (and SQLite's BINARY collation).
        self._keys: builtins.list[str] = []

    async def get(self, key: str) -> bytes | None:
        return self._values.get(key)

    async def get_many(self, keys: Sequence[str]) -> builtins.list[bytes | None]:
        return [self._values.get(key) for key in keys]

    async def put(self, key: str, value: bytes) -> None:
        check_value(value)
        self._put(key, value)

    async def delete(self, key: str) -> None:
        self._delete(key)

    async def list(
        self, prefix: str, *, after: str = "", limit: int | None = None
    ) -> builtins.list[str]:
        if limit is not None and limit < 0:
            raise ValueError(f"limit must not be negative, got {limit}")
        keys = self._keys
        # Keys sharing a prefix are contiguous in sorted order, so the scan starts at the
        # first key past `prefix + after` and stops at the first key without the prefix.
        i = bisect_right(keys, prefix + after)
        end = len(keys) if limit is None else min(len(keys), i + limit)
        cut = len(prefix)
        out: builtins.list[str] = []
        while i < end and keys[i].startswith(prefix):
            out.append(keys[i][cut:])
            i += 1
        return out

    async def write(self, ops: Sequence[WriteOp]) -> None:
        # There is no transaction to roll back, so reject a bad batch before touching anything.
        check_ops(ops)
        for op in ops:
            if isinstance(op, Put):
                self._put(op.key, op.value)
            else:
                self._delete(op.key)

    async def update(
        self,
        key: str,
        fn: UpdateFn,
        *,
        also: Sequence[WriteOp] = (),
        durable: bool = True,
        likely_absent: bool = False,
    ) -> tuple[bytes | None, bytes | None]:
        del durable  # nothing here survives the process anyway
        del likely_absent  # one lookup either way
        old = self._values.get(key)
        new = fn(old)  # if this raises, nothing has changed yet
        if new is not None:
            check_value(new)
        if also:
            await self.write(also)  # validates every op before applying any
        if new is None:
            self._delete(key)
        else:
            self._put(key, new)
        return old, new

    async def ping(self) -> None:
        """Always reachable."""

    def exclusive(self, name: str) -> contextlib.AbstractAsyncContextManager[bool]:
        return always_mine(name)

    async def close(self) -> None:
        """Nothing to release."""

    def _put(self, key: str, value: bytes) -> None:
        if key not in self._values:
            insort(self._keys, key)
        self._values[key] = value

    def _delete(self, key: str) -> None:
        if self._values.pop(key, None) is not None:
            i = bisect_right(self._keys, key) - 1
            del self._keys[i]
