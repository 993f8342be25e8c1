"""Rate-limit quotas (Vault's `sys/quotas/rate-limit/<name>` and `sys/quotas/config`).

The quota table is one storage key, read per request like the mount table, so every worker and
node applies the same rules at once; the counters are per node (limiter.py). Exactly one quota
applies to a request, the most specific, in Vault's order (quotas.go queryQuota): a role quota on
the mount, an exact path, the longest path glob, the mount, then the global quota.
"""

from __future__ import annotations

import msgspec

from core.quotas.limiter import Limiter, Verdict
from core.storage.base import Storage
from core.tables import QUOTAS_KEY, RequestTables

__all__ = ["Limiter", "QuotaConfig", "QuotaManager", "RateLimitQuota", "Verdict"]

TABLE_KEY = QUOTAS_KEY
DEFAULT_EXEMPT = [
    "sys/generate-recovery-token/attempt",
    "sys/generate-recovery-token/update",
    "sys/generate-root/attempt",
    "sys/generate-root/update",
    "sys/health",
    "sys/seal-status",
    "sys/unseal",
]


class RateLimitQuota(msgspec.Struct, kw_only=True):
    name: str
    mount: str = ""  # "" = global; else e.g. "auth/alicloud/"
    suffix: str = ""  # within the mount: "login", "role/*"; "" = the whole mount
    rate: float
    interval: int = 1
    block_interval: int = 0
    role: str = ""
    inheritable: bool = False

    @property
    def path(self) -> str:
        return self.mount + self.suffix


class QuotaConfig(msgspec.Struct, kw_only=True):
    rate_limit_exempt_paths: list[str] = msgspec.field(default_factory=lambda: list(DEFAULT_EXEMPT))
    enable_rate_limit_audit_logging: bool = False
    enable_rate_limit_response_headers: bool = False


class QuotaTable(msgspec.Struct, kw_only=True):
    quotas: list[RateLimitQuota] = msgspec.field(default_factory=list)
    config: QuotaConfig = msgspec.field(default_factory=QuotaConfig)


_decoder = msgspec.json.Decoder(QuotaTable)
_encoder = msgspec.json.Encoder()


def most_specific(
    quotas: list[RateLimitQuota], mount: str, suffix: str, role: str | None
) -> RateLimitQuota | None:
    on_mount = [q for q in quotas if q.mount == mount]
    if role:
        for quota in on_mount:
            if quota.role and quota.role == role:
                return quota
    by_suffix = {q.suffix: q for q in on_mount if q.suffix and not q.role}
    if suffix and suffix in by_suffix:
        return by_suffix[suffix]
    for end in range(len(suffix), -1, -1):
        glob = by_suffix.get(suffix[:end] + "*")
        if glob is not None:
            return glob
    for quota in on_mount:
        if not quota.suffix and not quota.role:
            return quota
    for quota in quotas:
        if not quota.mount:
            return quota
    return None


class QuotaManager:
    def __init__(self, storage: Storage, limiter: Limiter | None = None) -> None:
        self._storage = storage
        self._limiter = limiter or Limiter()
        self._raw: bytes | None = b"<unloaded>"
        self._table = QuotaTable()

    async def table(self, tables: RequestTables | None = None) -> QuotaTable:
        """The quota table (`tables`: as read at the request's start)."""
        raw = tables.quotas if tables is not None else await self._storage.get(TABLE_KEY)
        if raw != self._raw:
            self._table = _decoder.decode(raw) if raw else QuotaTable()
            self._raw = raw
        return self._table

    async def update(self, change: object) -> None:
        """Apply `change(table)` (which edits the table in place) atomically."""

        def apply(raw: bytes | None) -> bytes:
            table = _decoder.decode(raw) if raw else QuotaTable()
            change(table)  # type: ignore[operator]
            return _encoder.encode(table)

        await self._storage.update(TABLE_KEY, apply)

    def forget(self, name: str) -> None:
        self._limiter.forget(name)

    def check(self, quota: RateLimitQuota, client: str, now: float) -> Verdict:
        return self._limiter.check(
            quota.name,
            client,
            rate=quota.rate,
            interval=float(quota.interval),
            block_interval=float(quota.block_interval),
            now=now,
        )

    def purge(self, now: float) -> None:
        self._limiter.purge(now)

    def close(self) -> None:
        self._limiter.close()
