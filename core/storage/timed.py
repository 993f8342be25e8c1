"""Storage whose operations are timed into `wardgate.storage.<op>` (ms), for sys/metrics."""

from __future__ import annotations

import time
from typing import Any

from core.storage.base import Storage

_OPS = ("get", "get_many", "put", "delete", "list", "write", "update")


class TimedStorage:
    """Forwards every call to the wrapped storage; the six data operations are timed."""

    def __init__(self, inner: Storage, metrics: Any) -> None:
        self._inner = inner
        self._metrics = metrics
        for op in _OPS:
            setattr(self, op, self._timed(op))

    def _timed(self, op: str) -> Any:
        call = getattr(self._inner, op)
        observe = self._metrics.observe_ms
        name = f"wardgate.storage.{op}"

        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await call(*args, **kwargs)
            finally:
                observe(name, (time.perf_counter() - started) * 1000)

        return timed

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def close(self) -> None:
        await self._inner.close()
