"""Renewing a token: one implementation for Vault's `auth/token/renew*` and any other face."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.framework.errors import BadRequest
from core.framework.path import LoginAuth, MountInfo, RenewRequest
from core.tokens.store import TokenEntry
from core.tokens.ttl import calculate_ttl, elapsed_seconds

if TYPE_CHECKING:
    from core.context import CoreContext


async def renew_token(
    ctx: CoreContext,
    mount_info: MountInfo,
    token_hash: str,
    entry: TokenEntry,
    increment: int,
) -> tuple[TokenEntry, int, list[str]]:
    """Move a token's expiry as far as its limits allow: (stored entry, new TTL, warnings).

    `mount_info` is used for tokens no auth mount issued; a mount's token is renewed under its
    issuer's current limits, after the issuer's renew hook re-checked the login.
    """
    if entry.type == "batch":
        raise BadRequest("batch tokens cannot be renewed")
    if not entry.renewable or not entry.expire_time:
        raise BadRequest("lease is not renewable")
    backend_ttl, backend_max, period = entry.creation_ttl, entry.max_ttl, entry.period
    if entry.mount_accessor:
        issuer = await ctx.router.by_accessor(entry.mount_accessor)
        if issuer is None:
            raise BadRequest("the auth method that issued this token no longer exists")
        mount_info = issuer.info
        if issuer.backend.renew is not None and entry.login is not None:
            # The plugin re-checks the login (role still there, still matching) and hands
            # back the role's current TTL settings.
            fresh: LoginAuth = await issuer.backend.renew(RenewRequest(entry.login, issuer.info))
            backend_ttl, backend_max, period = fresh.ttl, fresh.max_ttl, fresh.period
            entry.max_ttl, entry.period = fresh.max_ttl, fresh.period
    now = ctx.clock.now()
    result = calculate_ttl(
        increment=increment,
        backend_ttl=backend_ttl,
        period=period,
        mount_default=mount_info.default_lease_ttl,
        mount_max=mount_info.max_lease_ttl,
        backend_max=backend_max,
        explicit_max=entry.explicit_max_ttl,
        elapsed=elapsed_seconds(entry.creation_time, now),
    )
    stored = await ctx.tokens.set_expiry(token_hash, entry, now + result.ttl)
    if stored is None:  # revoked while we were renewing it
        raise BadRequest("invalid token")
    return stored, result.ttl, result.warnings
