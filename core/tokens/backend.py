"""The built-in token auth method, mounted at `auth/token` (Vault's token store endpoints).

It is declared exactly like a plugin (Paths of data), which keeps the plugin interface honest;
unlike a plugin it is handed the core's services (a CoreContext), because tokens are the core's
own business.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import msgspec

from core.context import CoreContext
from core.framework.envelope import AuthBlock
from core.framework.errors import BadRequest, InvalidRequest, PermissionDenied, PolicyDenied
from core.framework.fields import DurationSeconds, NonNegativeInt, StrList, WeakStr
from core.framework.path import (
    Backend,
    MountInfo,
    Operation,
    Path,
    Request,
    Response,
)
from core.storage.base import StorageView
from core.tokens.issue import auth_block, lookup_data, sanitize_policies
from core.tokens.renew import renew_token
from core.tokens.roles import RoleDecision, RoleEndpoints, RoleInput, RoleStore, TokenRole, decide
from core.tokens.store import TokenEntry, random_id
from core.tokens.ttl import calculate_ttl


class CreateInput(msgspec.Struct, kw_only=True):
    id: WeakStr = WeakStr("")
    policies: StrList = msgspec.field(default_factory=StrList)
    meta: dict[str, str] = msgspec.field(default_factory=dict)
    no_parent: bool = False
    no_default_policy: bool = False
    renewable: bool = True
    ttl: DurationSeconds = DurationSeconds(0)
    explicit_max_ttl: DurationSeconds = DurationSeconds(0)
    period: DurationSeconds = DurationSeconds(0)
    display_name: WeakStr = WeakStr("")
    num_uses: NonNegativeInt = 0
    # Empty means service; _create refuses anything else with Vault's message.
    type: Annotated[WeakStr, msgspec.Meta(extra_json_schema={"enum": ["service", "batch"]})] = (
        WeakStr("service")
    )
    # Sent by the vault/bao CLIs; wardgate has no identity entities, so it has no effect.
    entity_alias: WeakStr = WeakStr("")


class TokenInput(msgspec.Struct, kw_only=True):
    token: WeakStr = WeakStr("")


class AccessorInput(msgspec.Struct, kw_only=True):
    accessor: WeakStr = WeakStr("")


class RenewInput(msgspec.Struct, kw_only=True):
    token: WeakStr = WeakStr("")
    increment: DurationSeconds = DurationSeconds(0)


class RenewAccessorInput(msgspec.Struct, kw_only=True):
    accessor: WeakStr = WeakStr("")
    increment: DurationSeconds = DurationSeconds(0)


class RenewSelfInput(msgspec.Struct, kw_only=True):
    increment: DurationSeconds = DurationSeconds(0)


def token_backend(ctx: CoreContext) -> Backend:
    roles = RoleStore(StorageView(ctx.storage, "sys/token-role/"))
    endpoints = _TokenEndpoints(ctx, roles)
    role_endpoints = RoleEndpoints(roles)
    write = Operation.UPDATE
    return Backend(
        help="The token store: create, look up, renew and revoke tokens.",
        paths=[
            Path(
                "create",
                {write: endpoints.create},
                CreateInput,
                synopsis="Create a token (a child of the caller unless no_parent).",
            ),
            Path(
                "create/{name}",
                {write: endpoints.create_with_role},
                CreateInput,
                synopsis="Create a token under a token role's rules.",
            ),
            Path(
                "roles/",
                {Operation.LIST: role_endpoints.list},
                synopsis="List the token roles.",
            ),
            Path(
                "roles/{name}",
                {
                    Operation.READ: role_endpoints.read,
                    Operation.CREATE: role_endpoints.write,
                    write: role_endpoints.write,
                    Operation.DELETE: role_endpoints.delete,
                },
                RoleInput,
                existence_check=role_endpoints.exists,
                synopsis="Read, write or delete a token role.",
            ),
            Path(
                "create-orphan",
                {write: endpoints.create_orphan},
                CreateInput,
                synopsis="Create a token with no parent.",
            ),
            Path(
                "lookup",
                {write: endpoints.lookup, Operation.READ: endpoints.lookup},
                TokenInput,
                synopsis="Look up a token's properties.",
            ),
            Path(
                "lookup-self",
                {Operation.READ: endpoints.lookup_self, write: endpoints.lookup_self},
                synopsis="Look up the calling token.",
            ),
            Path(
                "lookup-accessor",
                {write: endpoints.lookup_accessor},
                AccessorInput,
                synopsis="Look up a token by its accessor.",
            ),
            Path("renew", {write: endpoints.renew}, RenewInput, synopsis="Renew a token."),
            Path(
                "renew-self",
                {write: endpoints.renew_self},
                RenewSelfInput,
                synopsis="Renew the calling token.",
            ),
            Path(
                "renew-accessor",
                {write: endpoints.renew_accessor},
                RenewAccessorInput,
                synopsis="Renew a token by its accessor.",
            ),
            Path(
                "revoke",
                {write: endpoints.revoke},
                TokenInput,
                synopsis="Revoke a token and all its children.",
            ),
            Path(
                "revoke-self",
                {write: endpoints.revoke_self},
                synopsis="Revoke the calling token and all its children.",
            ),
            Path(
                "revoke-accessor",
                {write: endpoints.revoke_accessor},
                AccessorInput,
                synopsis="Revoke a token by its accessor.",
            ),
            Path(
                "revoke-orphan",
                {write: endpoints.revoke_orphan},
                TokenInput,
                sudo=True,
                synopsis="Revoke a token; its children become orphans.",
            ),
            Path(
                "accessors/",
                {Operation.LIST: endpoints.list_accessors},
                sudo=True,
                synopsis="List the accessors of all tokens.",
            ),
        ],
    )


# Vault's displayNameSanitize: anything but letters, digits and dashes becomes a dash.
_DISPLAY_NAME_UNSAFE = re.compile(r"[^a-zA-Z0-9-]")


def _display_name(given: str) -> str:
    """`token-<name>` as Vault builds it (case kept, one trailing dash dropped)."""
    if not given:
        return "token"
    full = _DISPLAY_NAME_UNSAFE.sub("-", "token-" + given)
    return full[:-1] if full.endswith("-") else full


class _TokenEndpoints:
    def __init__(self, ctx: CoreContext, roles: RoleStore) -> None:
        self._ctx = ctx
        self._store = ctx.tokens
        self._roles = roles

    # -- create ------------------------------------------------------------------------------

    async def create(self, req: Request[CreateInput]) -> Response:
        return await self._create(req, orphan=req.data.no_parent)

    async def create_orphan(self, req: Request[CreateInput]) -> Response:
        return await self._create(req, orphan=True)

    async def create_with_role(self, req: Request[CreateInput]) -> Response:
        name = req.captures.get("name", "")
        role = await self._roles.get(name)
        if role is None:
            raise BadRequest(f"unknown role {name}")
        return await self._create(req, orphan=role.orphan, role=role)

    async def _create(
        self, req: Request[CreateInput], *, orphan: bool, role: TokenRole | None = None
    ) -> Response:
        data = req.data
        caller = req.token
        assert caller is not None
        parent_hash = self._store.hash(caller.client_token)
        if data.num_uses < 0:
            raise BadRequest("number of uses cannot be negative")
        decision: RoleDecision | None = None
        if role is not None:
            decision = decide(
                role,
                requested_policies=list(data.policies),
                no_default_policy=data.no_default_policy,
                parent_policies=list(caller.policies),
                requested_type=(data.type or None) if req.given("type") else None,
                renewable=data.renewable,
                num_uses=data.num_uses,
                period=data.period,
                explicit_max_ttl=data.explicit_max_ttl,
            )
        token_type = decision.token_type if decision else (data.type or "service")
        num_uses = decision.num_uses if decision else data.num_uses
        period = decision.period if decision else data.period
        explicit_max_ttl = decision.explicit_max_ttl if decision else data.explicit_max_ttl
        if token_type not in ("service", "batch"):
            raise BadRequest(f'invalid \'type\' value {token_type!r}: use "service" or "batch"')
        if token_type == "batch" and (period or num_uses):
            raise BadRequest("batch tokens cannot be periodic or have a use limit")
        if data.id and not req.sudo:
            raise BadRequest("root or sudo privileges required to specify token id")
        if role is None and data.no_parent and not req.sudo:
            raise BadRequest("root or sudo privileges required to create orphan token")
        if data.id and await self._store.get(self._store.hash(data.id)) is not None:
            raise BadRequest("cannot create a token with a duplicate ID")
        if decision is not None:
            policies = decision.policies
        else:
            requested = list(data.policies) if data.policies else list(caller.policies)
            # A parent without `default` cannot hand it out unless it may grant anything.
            add_default = not data.no_default_policy and (req.sudo or "default" in caller.policies)
            policies = sanitize_policies(requested, add_default=add_default)
        role_chose = decision is not None and decision.role_policies
        if not req.sudo and not role_chose and not set(policies) <= set(caller.policies):
            # As Vault: 403 in the multierror form an ACL denial has (transcripts #234).
            raise PolicyDenied(
                log_detail=f"child policies must be subset of parent: asked for {policies}, "
                f"caller holds {caller.policies}"
            )
        is_root_token = policies == ["root"]
        if is_root_token and not caller.is_root:
            # Sudo on auth/token/create lifts the subset rule, but never up to root (Vault).
            raise BadRequest("root tokens may not be created without parent token being root")
        token_mount = req.mount
        result = calculate_ttl(
            increment=0,
            backend_ttl=data.ttl,
            period=period,
            # A root-policy token with no TTL never expires (as in Vault).
            mount_default=0 if is_root_token else token_mount.default_lease_ttl,
            mount_max=token_mount.max_lease_ttl,
            backend_max=0,
            explicit_max=explicit_max_ttl,
        )
        now = self._ctx.clock.now()
        entry = TokenEntry(
            accessor="" if token_type == "batch" else random_id(24),
            policies=policies,
            display_name=_display_name(data.display_name),
            path=decision.path if decision else "auth/token/create",
            creation_time=now,
            creation_ttl=result.ttl,
            expire_time=now + result.ttl if result.ttl else 0.0,
            explicit_max_ttl=explicit_max_ttl,
            period=period,
            num_uses=num_uses,
            bound_cidrs=decision.bound_cidrs if decision else [],
            meta=dict(data.meta) or None,
            renewable=(decision.renewable if decision else data.renewable)
            and token_type != "batch",
            type=token_type,
            parent="" if orphan else parent_hash,
            parent_expire=0.0 if orphan else _expiry_of(caller.entry),
            role=role.name if role else "",
        )
        token = await self._store.create(entry, token_id=data.id or None)
        self._ctx.metrics.token_created(
            auth_method="token", mount_point="auth/token/", ttl=result.ttl, token_type=token_type
        )
        warnings = [
            *(decision.warnings if decision else []),
            *await self._missing_policy_warnings(policies),
            *result.warnings,
        ]
        return Response(auth=auth_block(entry, token, ttl=result.ttl), warnings=warnings)

    async def _missing_policy_warnings(self, policies: list[str]) -> list[str]:
        """Vault creates the token anyway but says which policies do not exist (yet)."""
        store = self._ctx.policies
        return [
            f'Policy "{name}" does not exist'
            for name in policies
            if name not in ("default", "root") and await store.get(name) is None
        ]

    # -- lookup ------------------------------------------------------------------------------

    async def lookup(self, req: Request[TokenInput]) -> Response:
        token = req.data.token
        if not token:
            return await self.lookup_self(req)
        entry = await self._store.valid_entry(self._store.hash(token))
        if entry is None:
            raise PermissionDenied("bad token")
        return Response(data=lookup_data(entry, token, now=self._ctx.clock.now()))

    async def lookup_self(self, req: Request[Any]) -> Response:
        token = self._caller(req)
        # The pipeline has just read (and, for a use-limited token, updated) the caller's
        # entry; reading it again would only cost a storage round trip.
        entry = req.token.entry if req.token is not None else None
        if not isinstance(entry, TokenEntry):
            entry = await self._store.get(self._store.hash(token))
        if entry is None:
            raise PermissionDenied()
        return Response(data=lookup_data(entry, token, now=self._ctx.clock.now()))

    async def lookup_accessor(self, req: Request[AccessorInput]) -> Response:
        _, entry = await self._by_accessor(req.data.accessor)
        return Response(data=lookup_data(entry, "", now=self._ctx.clock.now()))

    async def list_accessors(self, req: Request[Any]) -> Response | None:
        keys = await self._store.accessors()
        return Response(data={"keys": keys}) if keys else None

    # -- renew -------------------------------------------------------------------------------

    async def renew(self, req: Request[RenewInput]) -> Response:
        token = req.data.token or self._caller(req)
        token_hash = self._store.hash(token)
        entry = await self._store.valid_entry(token_hash)
        if entry is None:
            raise BadRequest("invalid token")
        return await self._renew(req.mount, token_hash, entry, token, req.data.increment)

    async def renew_self(self, req: Request[RenewSelfInput]) -> Response:
        token = self._caller(req)
        token_hash = self._store.hash(token)
        entry = await self._store.get(token_hash)
        if entry is None:
            raise PermissionDenied()
        return await self._renew(req.mount, token_hash, entry, token, req.data.increment)

    async def renew_accessor(self, req: Request[RenewAccessorInput]) -> Response:
        token_hash, entry = await self._by_accessor(req.data.accessor)
        return await self._renew(req.mount, token_hash, entry, "", req.data.increment)

    async def _renew(
        self, mount_info: MountInfo, token_hash: str, entry: TokenEntry, token: str, increment: int
    ) -> Response:
        stored, ttl, warnings = await renew_token(
            self._ctx, mount_info, token_hash, entry, increment
        )
        block: AuthBlock = auth_block(stored, token, ttl=ttl)
        return Response(auth=block, warnings=warnings)

    # -- revoke ------------------------------------------------------------------------------

    async def revoke(self, req: Request[TokenInput]) -> None:
        if not req.data.token:
            raise BadRequest("missing token")
        await self._store.revoke_tree(self._store.hash(req.data.token))

    async def revoke_self(self, req: Request[Any]) -> None:
        await self._store.revoke_tree(self._store.hash(self._caller(req)))

    async def revoke_orphan(self, req: Request[TokenInput]) -> None:
        if not req.data.token:
            raise BadRequest("missing token")
        await self._store.revoke_orphan(self._store.hash(req.data.token))

    async def revoke_accessor(self, req: Request[AccessorInput]) -> Response | None:
        token_hash = await self._store.hash_for_accessor(req.data.accessor)
        if token_hash is None:
            return Response(warnings=["No token found with this accessor"])
        await self._store.revoke_tree(token_hash)
        return None

    # -- helpers -----------------------------------------------------------------------------

    def _caller(self, req: Request[Any]) -> str:
        if req.token is None:
            raise PermissionDenied()
        return req.token.client_token

    async def _by_accessor(self, accessor: str) -> tuple[str, TokenEntry]:
        if not accessor:
            raise BadRequest("missing accessor")
        token_hash = await self._store.hash_for_accessor(accessor)
        entry = None if token_hash is None else await self._store.valid_entry(token_hash)
        if token_hash is None or entry is None:
            raise InvalidRequest("invalid accessor")
        return token_hash, entry


def _expiry_of(entry: object) -> float:
    return entry.expire_time if isinstance(entry, TokenEntry) else 0.0
