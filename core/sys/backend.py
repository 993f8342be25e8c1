"""The `sys/` backend: health and auth-method management, declared like any other backend."""

from __future__ import annotations

from typing import Any

from core.context import CoreContext
from core.framework.openapi import openapi_document
from core.framework.path import Backend, Operation, Path, Request, Response
from core.policy.parse import POLICY_NAME
from core.sys.audit import AuditEndpoints, AuditHashInput, EnableAuditInput
from core.sys.auth_mounts import AuthMountEndpoints, EnableInput, TuneInput
from core.sys.hostinfo import host_info
from core.sys.locked_users import LockedUsersEndpoints
from core.sys.metrics import metrics_handler
from core.sys.policy import CapabilitiesInput, PolicyEndpoints, PolicyInput
from core.sys.quotas import QuotaConfigInput, QuotaEndpoints, QuotaInput
from core.sys.secret_mounts import MountInput, SecretMountEndpoints
from core.sys.status import get_only, health, leader, seal_status
from core.sys.wrapping import UNAUTHENTICATED as WRAPPING_UNAUTHENTICATED
from core.sys.wrapping import WrappingEndpoints
from core.version import wardgate_version


def sys_backend(ctx: CoreContext) -> Backend:
    mounts = AuthMountEndpoints(ctx)
    policies = PolicyEndpoints(ctx)
    engines = SecretMountEndpoints(ctx)
    server_version = wardgate_version()
    audit = AuditEndpoints(ctx)
    quotas = QuotaEndpoints(ctx)
    # Vault's listener option: metrics without a token (and then not audited).
    open_metrics = {"metrics"} if ctx.config.telemetry.unauthenticated_metrics_access else set()
    read, write, delete, listing = (
        Operation.READ,
        Operation.UPDATE,
        Operation.DELETE,
        Operation.LIST,
    )
    tune_ops = {read: mounts.read_tune, write: mounts.tune}
    policy_write = {write: policies.write, Operation.CREATE: policies.write}
    return Backend(
        help="System endpoints: health, auth methods, policies, capabilities, OpenAPI.",
        unauthenticated=frozenset(
            {"health", "seal-status", "leader", "internal/specs/openapi", *open_metrics}
        )
        | WRAPPING_UNAUTHENTICATED,
        paths=[
            Path(
                "health",
                get_only(health(ctx, server_version)),
                synopsis="Server health (no token needed).",
            ),
            Path(
                "seal-status",
                get_only(seal_status(ctx, server_version)),
                synopsis="Seal status (no token needed): wardgate is never sealed.",
            ),
            Path(
                "leader",
                get_only(leader),
                synopsis="HA status (no token needed): wardgate has no HA leader election.",
            ),
            Path("auth", {read: mounts.list}, synopsis="List the enabled auth methods."),
            # Vault's root-protected `auth/*`: managing auth methods needs sudo.
            Path(
                "auth/{path*}/tune", tune_ops, TuneInput, sudo=True, synopsis="Tune an auth method."
            ),
            Path("mounts/auth/{path*}/tune", tune_ops, TuneInput, synopsis="Tune an auth method."),
            Path("mounts", {read: engines.list}, synopsis="List the secret-engine mounts."),
            Path(
                "mounts/{path*}/tune",
                {read: engines.read_tune, write: engines.tune},
                synopsis="Tuning of a secret-engine mount (only sys/ exists).",
            ),
            Path(
                "mounts/{path*}",
                {read: engines.read, write: engines.enable, delete: engines.disable},
                MountInput,
                synopsis="Read, enable or disable a secret-engine mount (wardgate has none).",
            ),
            Path(
                "auth/{path*}",
                {read: mounts.read, write: mounts.enable, delete: mounts.disable},
                EnableInput,
                sudo=True,
                synopsis="Enable, read or disable an auth method.",
            ),
            Path(
                # A collection: GET lists (legacy), and so do LIST and ?list=true.
                "policy/",
                {read: policies.list_legacy, listing: policies.list_legacy},
                synopsis="List the ACL policies.",
            ),
            Path(
                "policy/{name}",
                {read: policies.read_legacy, **policy_write, delete: policies.delete},
                PolicyInput,
                captures={"name": POLICY_NAME},
                synopsis="Read, write or delete an ACL policy.",
            ),
            Path("policies/acl/", {listing: policies.list_acl}, synopsis="List the ACL policies."),
            Path(
                "policies/acl/{name}",
                {read: policies.read_acl, **policy_write, delete: policies.delete},
                PolicyInput,
                captures={"name": POLICY_NAME},
                synopsis="Read, write or delete an ACL policy.",
            ),
            Path(
                "capabilities-self",
                {write: policies.capabilities_self},
                CapabilitiesInput,
                synopsis="The caller's capabilities on paths.",
            ),
            Path(
                "capabilities",
                {write: policies.capabilities},
                CapabilitiesInput,
                synopsis="A token's capabilities on paths.",
            ),
            Path(
                "capabilities-accessor",
                {write: policies.capabilities_accessor},
                CapabilitiesInput,
                synopsis="Capabilities on paths of the token with an accessor.",
            ),
            Path(
                "metrics",
                get_only(metrics_handler(ctx)),
                synopsis="Metrics: Prometheus text (format=prometheus) or JSON.",
            ),
            Path("host-info", {read: host_info}, synopsis="The host's CPU, memory, disk, OS."),
            Path(
                "quotas/rate-limit/",
                {listing: quotas.list},
                synopsis="List the rate-limit quotas.",
            ),
            Path(
                "quotas/rate-limit/{name}",
                {
                    read: quotas.read,
                    write: quotas.write,
                    Operation.CREATE: quotas.write,
                    delete: quotas.delete,
                },
                QuotaInput,
                synopsis="Read, write or delete a rate-limit quota.",
            ),
            Path(
                "quotas/config",
                {read: quotas.read_config, write: quotas.write_config},
                QuotaConfigInput,
                synopsis="Rate-limit quota settings: exempt paths, headers, audit.",
            ),
            # Vault's root-protected `audit`, `audit/*`: audit devices need sudo.
            Path("audit", {read: audit.list}, sudo=True, synopsis="List the audit devices."),
            Path(
                "audit/{path*}",
                {write: audit.enable, delete: audit.disable},
                EnableAuditInput,
                sudo=True,
                synopsis="Enable or disable an audit device.",
            ),
            Path(
                "audit-hash/{path*}",
                {write: audit.hash},
                AuditHashInput,
                synopsis="The hash an audit device logs for a value.",
            ),
            Path(
                "internal/specs/openapi",
                {read: _openapi(ctx)},
                synopsis="The OpenAPI document, limited to what the caller may use.",
            ),
            *WrappingEndpoints(ctx).paths(),
            *LockedUsersEndpoints(ctx).paths(),
        ],
    )


def _openapi(ctx: CoreContext) -> Any:
    async def openapi(req: Request[Any]) -> Response:
        caller = req.token
        acl = None
        if caller is not None and not caller.is_root:
            acl = await ctx.policies.compiled(caller.policies)
        routes: list[tuple[str, Path]] = []
        open_paths: set[str] = set()
        for mounted in await ctx.router.all_mounted():
            routes.extend((mounted.prefix, path) for path in mounted.backend.paths)
            if mounted.prefix == "sys/":
                # Only sys/'s own open paths are listed for everyone: an auth mount's login
                # path would tell an anonymous caller that the mount exists. A token sees
                # mounts as its policy allows (root: all).
                open_paths.update("sys/" + name for name in mounted.backend.unauthenticated)

        def include(path: str, operation: Operation, declared: Path) -> bool:
            if path in open_paths or (caller is not None and caller.is_root):
                return True
            if acl is None:
                return False
            return acl.allowed(operation.value, path, None, needs_sudo=declared.sudo).allowed

        return Response(raw_body=openapi_document(wardgate_version(), routes, include))

    return openapi
