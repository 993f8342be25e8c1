"""Turning requests into TokenEntries and TokenEntries into Vault's wire shapes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.framework.envelope import AuthBlock
from core.framework.errors import BadRequest, PermissionDenied
from core.framework.path import LoginAuth, MountInfo
from core.framework.timefmt import rfc3339 as rfc3339
from core.tokens.store import TokenEntry, random_id
from core.tokens.ttl import calculate_ttl

if TYPE_CHECKING:
    from core.context import CoreContext, Mounted


def sanitize_policies(policies: list[str], *, add_default: bool) -> list[str]:
    """Vault's rule: trim, lower-case, drop empties; `root` alone wins; add `default`; sort."""
    cleaned: list[str] = []
    for policy in policies:
        name = policy.strip().lower()
        if not name:
            continue
        if name == "root":
            return ["root"]
        cleaned.append(name)
    if add_default and "default" not in cleaned:
        cleaned.append("default")
    return sorted(set(cleaned))


def login_display_name(mount_path: str, name: str) -> str:
    return (mount_path.replace("/", "-") + name).rstrip("-")


def login_token_type(requested: str, mount_type: str) -> str:
    """Vault's rule: a mount tuned to service or batch forces it; a role's own choice counts
    when the mount only sets a default."""
    if mount_type in ("service", "batch"):
        return mount_type
    if requested in ("service", "batch"):
        return requested
    return "batch" if mount_type == "default-batch" else "service"


def entry_for_login(
    auth: LoginAuth, mount: MountInfo, *, path: str, now: float
) -> tuple[TokenEntry, list[str]]:
    """The token a successful login at `path` gets, with the mount's TTL limits applied."""
    policies = sanitize_policies(auth.policies, add_default=not auth.no_default_policy)
    if policies == ["root"]:
        raise BadRequest("auth methods cannot create root tokens")
    token_type = login_token_type(auth.token_type, mount.token_type)
    result = calculate_ttl(
        increment=0,
        backend_ttl=auth.ttl,
        period=auth.period,
        mount_default=mount.default_lease_ttl,
        mount_max=mount.max_lease_ttl,
        backend_max=auth.max_ttl,
        explicit_max=auth.explicit_max_ttl,
    )
    entry = TokenEntry(
        accessor="" if token_type == "batch" else random_id(24),
        policies=policies,
        display_name=login_display_name(mount.path, auth.display_name),
        path=path,
        creation_time=now,
        creation_ttl=result.ttl,
        expire_time=now + result.ttl if result.ttl else 0.0,
        explicit_max_ttl=auth.explicit_max_ttl,
        max_ttl=auth.max_ttl,
        period=auth.period,
        num_uses=auth.num_uses,
        bound_cidrs=list(auth.bound_cidrs),
        meta=dict(auth.metadata) or None,
        renewable=auth.renewable and token_type != "batch",
        type=token_type,
        mount_accessor=mount.accessor,
        login=auth,
    )
    return entry, result.warnings


async def issue_login_token(
    ctx: CoreContext,
    mounted: Mounted,
    login: LoginAuth,
    *,
    path: str,
    group: str = "",
) -> tuple[TokenEntry, str, list[str]]:
    """Issue the token of a successful login, whichever face it came through: (entry,
    token, warnings). `group` puts it in a token group (see core.tokens.store)."""
    store = ctx.tokens
    entry, warnings = entry_for_login(login, mounted.info, path=path, now=ctx.clock.now())
    entry.group = group
    token = await store.create(entry)
    if not await ctx.router.accessor_live(mounted.info.accessor):
        # The mount was disabled while this login ran: its token is refused anyway (see
        # TokenStore._valid); say so rather than hand out a dead token.
        await store.revoke_tree(store.hash(token))
        raise PermissionDenied(log_detail="the auth mount was disabled during the login")
    ctx.metrics.token_created(
        auth_method=mounted.info.type,
        mount_point=mounted.prefix,
        ttl=entry.creation_ttl,
        token_type=entry.type,
    )
    return entry, token, warnings


def auth_block(entry: TokenEntry, token: str, *, ttl: int) -> AuthBlock:
    return AuthBlock(
        client_token=token,
        accessor=entry.accessor,
        policies=list(entry.policies),
        token_policies=list(entry.policies),
        metadata=entry.meta,
        lease_duration=ttl,
        renewable=entry.renewable and entry.expire_time > 0,
        token_type=entry.type,
        orphan=entry.orphan,
        num_uses=max(entry.num_uses, 0),
    )


def lookup_data(entry: TokenEntry, token: str, *, now: float) -> dict[str, Any]:
    """`auth/token/lookup*` data: keys sorted, optional keys only when set (as Vault)."""
    data: dict[str, Any] = {"accessor": entry.accessor}
    if entry.bound_cidrs:
        data["bound_cidrs"] = list(entry.bound_cidrs)
    remaining = max(0, int(entry.expire_time - now)) if entry.expire_time else 0
    data.update(
        creation_time=int(entry.creation_time),
        creation_ttl=entry.creation_ttl,
        display_name=entry.display_name,
        entity_id="",
        expire_time=rfc3339(entry.expire_time) if entry.expire_time else None,
        explicit_max_ttl=entry.explicit_max_ttl,
        id=token,
        issue_time=rfc3339(entry.creation_time),
    )
    if entry.last_renewal_time:
        data["last_renewal"] = rfc3339(entry.last_renewal_time)
        data["last_renewal_time"] = int(entry.last_renewal_time)
    data.update(
        meta=entry.meta,
        num_uses=entry.num_uses,
        orphan=entry.orphan,
        path=entry.path,
    )
    if entry.period:
        data["period"] = entry.period
    data["policies"] = list(entry.policies)
    data["renewable"] = entry.renewable and entry.expire_time > 0
    if entry.role:
        data["role"] = entry.role
    data["ttl"] = remaining
    data["type"] = entry.type
    return data
