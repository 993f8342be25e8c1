"""What every request reads from storage before it is routed, in one storage statement (one
round trip to PostgreSQL) instead of one read each: the tables it consults (mounts, rate-limit
quotas, audit devices), the policy generation counter (core/policy/store.py), and the entry of
the token it presents (its key is known from the header before routing). Each process still
compares the tables' bytes and rebuilds only on a change.

All of it is one snapshot taken at the request's start: a change committed before the request
began (a revocation, a policy or mount change, on any node) is seen by it; the token is checked,
the request routed and authorised against that one state."""

from __future__ import annotations

from dataclasses import dataclass, field

MOUNTS_KEY = "core/mounts"
QUOTAS_KEY = "core/quotas"
AUDIT_KEY = "core/audit"
KEYS = (MOUNTS_KEY, QUOTAS_KEY, AUDIT_KEY)


@dataclass(slots=True, frozen=True)
class RequestTables:
    mounts: bytes | None
    quotas: bytes | None
    audit: bytes | None
    # The policy store's generation counter (None: never bumped).
    policy_generation: bytes | None
    # The presented token, its hash and its stored entry (None: no such token); "" when no
    # token was read with the tables. Kept out of repr (a secret, as AuditRecord.token).
    token: str = field(default="", repr=False)
    token_hash: str = ""
    token_entry: bytes | None = field(default=None, repr=False)
