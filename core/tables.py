"""The stored tables every request consults (mounts, rate-limit quotas, audit devices), read
together at the request's start: one storage statement (one round trip to PostgreSQL) instead
of one per table. Each process still compares the bytes and rebuilds only on a change."""

from __future__ import annotations

from dataclasses import dataclass

MOUNTS_KEY = "core/mounts"
QUOTAS_KEY = "core/quotas"
AUDIT_KEY = "core/audit"
KEYS = (MOUNTS_KEY, QUOTAS_KEY, AUDIT_KEY)


@dataclass(slots=True, frozen=True)
class RequestTables:
    mounts: bytes | None
    quotas: bytes | None
    audit: bytes | None
