"""The AppRole auth method (Vault's `approle`): the factory the core calls per mount."""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from core.framework import Backend, BackendContext, BadRequest, DurationSeconds
from core.framework.fields import decode_hook
from core.registry import PluginRegistry
from plugins.approle.infisical import UniversalAuthInfisical
from plugins.approle.lockout import LockedRoles, Lockout, LockoutPolicy
from plugins.approle.path_fields import RoleFieldPaths
from plugins.approle.path_login import LoginPaths
from plugins.approle.path_role import RolePaths
from plugins.approle.path_secret import SecretIdPaths
from plugins.approle.role import RoleStore
from plugins.approle.secret_ids import SecretIdStore

HELP = """The AppRole auth method: machines and CI jobs log in with a role ID (like a user name)
and a secret ID (like a password) issued for that role, with use limits, TTLs and CIDR bindings."""


class AppRoleConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The mount's `[auth.config]` table (or `options` when enabled through sys/auth)."""

    # Vault's user lockout: this many bad secret IDs for one role lock it for lockout_duration;
    # failures older than lockout_counter_reset are forgotten.
    lockout_threshold: int = 5
    lockout_duration: DurationSeconds = DurationSeconds(900)
    lockout_counter_reset: DurationSeconds | UnsetType = UNSET
    # Vault's API name of the same setting (its docs name the one above; both are accepted).
    lockout_counter_reset_duration: DurationSeconds | UnsetType = UNSET
    lockout_disable: bool = False


def parse_config(raw: dict[str, Any]) -> LockoutPolicy:
    try:
        config = msgspec.convert(raw, AppRoleConfig, dec_hook=decode_hook, strict=False)
    except msgspec.ValidationError as exc:
        raise BadRequest(f"invalid approle mount config: {exc}") from None
    resets = {
        int(v)
        for v in (config.lockout_counter_reset, config.lockout_counter_reset_duration)
        if not isinstance(v, UnsetType)
    }
    if len(resets) > 1:
        raise BadRequest(
            "invalid approle mount config: lockout_counter_reset and "
            "lockout_counter_reset_duration disagree"
        )
    policy = LockoutPolicy(
        threshold=config.lockout_threshold,
        duration=int(config.lockout_duration),
        counter_reset=resets.pop() if resets else 900,
        disabled=config.lockout_disable,
    )
    if not policy.disabled and not (
        policy.threshold >= 1 and policy.duration > 0 and policy.counter_reset > 0
    ):
        raise BadRequest(
            "invalid approle mount config: lockout_threshold must be at least 1 and the "
            "lockout durations positive (or set lockout_disable = true)"
        )
    return policy


def factory(ctx: BackendContext) -> Backend:
    if ctx.hasher is None:
        raise BadRequest("the approle auth method needs the server's keyed hasher")
    policy = parse_config(dict(ctx.config))
    roles = RoleStore(ctx.storage, ctx.hasher)
    secrets = SecretIdStore(ctx.storage, ctx.hasher)
    lockout = Lockout(ctx.storage, policy)
    login = LoginPaths(roles, secrets, lockout, ctx.clock, ctx.logger)

    async def sweep() -> None:
        removed = await login.sweep()
        if removed:
            ctx.logger.info("removed %d expired secret IDs", removed)

    return Backend(
        help=HELP,
        paths=[
            *RolePaths(roles, secrets).paths(),
            *RoleFieldPaths(roles).paths(),
            *SecretIdPaths(roles, secrets, ctx.clock).paths(),
            *login.paths(),
        ],
        unauthenticated=frozenset({"login"}),
        renew=login.renew,
        periodic=sweep,
        faces={"infisical": UniversalAuthInfisical(roles, secrets, lockout, ctx.clock, ctx.logger)},
        user_lockout=LockedRoles(lockout, roles, ctx.clock),
    )


def register(registry: PluginRegistry) -> None:
    registry.add("approle", factory, description="role ID and secret ID (Vault's AppRole)")
