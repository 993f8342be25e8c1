"""Lease TTL arithmetic, one function for token create, login and renew (Vault's CalculateTTL)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from core.framework.errors import BadRequest
from core.framework.fields import format_duration


@dataclass(slots=True)
class TTLResult:
    ttl: int
    warnings: list[str] = field(default_factory=list)


def effective_max(mount_max: int, backend_max: int, explicit_max: int) -> int:
    """The tightest of the mount's max, the role's max and the token's explicit max."""
    limit = mount_max
    for candidate in (backend_max, explicit_max):
        if candidate > 0 and (limit <= 0 or candidate < limit):
            limit = candidate
    return limit


def calculate_ttl(
    *,
    increment: int,
    backend_ttl: int,
    period: int,
    mount_default: int,
    mount_max: int,
    backend_max: int,
    explicit_max: int,
    elapsed: int = 0,
) -> TTLResult:
    """TTL for a token issued (elapsed=0) or renewed (elapsed = whole seconds since creation).

    OpenBao's CalculateTTL: the max TTL counts from the token's creation, so a renewal can
    never push expiry past creation + max; periodic tokens are bounded by an explicit max
    only. Whenever the TTL is capped the client is told, with what was left of the max.
    """
    max_ttl = effective_max(mount_max, backend_max, explicit_max)
    warnings: list[str] = []
    limit = 0  # seconds from creation the token may not outlive; 0 = no limit
    if period > 0:
        ttl = period
        if max_ttl > 0 and ttl > max_ttl:
            warnings.append(
                f'period of "{format_duration(ttl)}" exceeded the effective max_ttl of '
                f'"{format_duration(max_ttl)}"; period value is capped accordingly'
            )
            ttl = max_ttl
        limit = explicit_max
    else:
        ttl = increment if increment > 0 else (backend_ttl if backend_ttl > 0 else mount_default)
        limit = max_ttl
    if limit > 0:
        remaining = limit - elapsed
        if remaining <= 0:
            raise BadRequest("past the max TTL, cannot renew")
        if ttl > remaining:
            warnings.append(
                f'TTL of "{format_duration(ttl)}" exceeded the effective max_ttl of '
                f'"{format_duration(remaining)}"; TTL value is capped accordingly'
            )
            ttl = remaining
    return TTLResult(ttl, warnings)


def elapsed_seconds(since: float, now: float) -> int:
    """Whole seconds between two instants, both truncated first (as OpenBao does)."""
    return max(0, math.floor(now) - math.floor(since))
