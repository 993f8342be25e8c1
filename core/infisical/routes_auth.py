"""Routes every Infisical auth method shares: its config on an identity (attach, get, update,
delete), its login, and the access token's renew and revoke.

The access token is a wardgate token: issued by the core's one login-token function, in a
token group whose CIDRs are the config's trusted IPs (read on every use), so `Authorization:
Bearer` works for it on `/v1/` and `/api/v1/` alike.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.framework.path import LoginAuth, Operation
from core.infisical.auth_config import (
    AuthConfig,
    check_shared,
    new_config,
    parse_shared,
    render_shared,
    updated_config,
)
from core.infisical.errors import (
    BadRequestError,
    NotFoundError,
    UnauthorizedError,
    ValidationFailure,
)
from core.infisical.identities import now_iso
from core.infisical.method import (
    IDENTITY_MARK,
    FaceRequest,
    FaceRoute,
    FaceServices,
    InfisicalAuthMethod,
)
from core.infisical.schema import Issues, string
from core.tokens.issue import auth_block, issue_login_token
from core.tokens.renew import renew_token
from core.tokens.store import TokenEntry
from core.tokens.ttl import effective_max

if TYPE_CHECKING:
    from core.context import CoreContext, Mounted


class AuthRoutes:
    def __init__(self, ctx: CoreContext, services: FaceServices) -> None:
        self._ctx = ctx
        self._services = services

    def _now(self) -> str:
        return now_iso(self._ctx.clock.now())

    def method_routes(self, method: InfisicalAuthMethod, mounted: Mounted) -> list[FaceRoute]:
        base = f"auth/{method.slug}/"
        one = base + "identities/{identityId}"

        async def login(req: FaceRequest) -> Any:
            return await self._login(method, mounted, req)

        async def attach(req: FaceRequest) -> Any:
            return await self._attach(method, req)

        async def read(req: FaceRequest) -> Any:
            return self._render(method, await self._require(method, req, "does not have"))

        async def update(req: FaceRequest) -> Any:
            return await self._update(method, req)

        async def delete(req: FaceRequest) -> Any:
            return await self._delete(method, req)

        routes = [
            FaceRoute("POST", base + "login", login, None, login=True),
            FaceRoute("POST", one, attach, Operation.CREATE),
            FaceRoute("GET", one, read, Operation.READ),
            FaceRoute("PATCH", one, update, Operation.UPDATE),
            FaceRoute("DELETE", one, delete, Operation.DELETE),
        ]
        for extra in method.routes(self._services):
            routes.append(
                FaceRoute(extra.method, base + extra.pattern, extra.handler, extra.capability)
            )
        return routes

    # -- config --------------------------------------------------------------------------------

    def _render(self, method: InfisicalAuthMethod, config: AuthConfig) -> dict[str, Any]:
        return {method.config_key: {**render_shared(config), **method.render_config(config.fields)}}

    async def _require(
        self, method: InfisicalAuthMethod, req: FaceRequest, _: str = ""
    ) -> AuthConfig:
        identity = await self._services.identities.require(req.identity_id())
        config = await self._services.configs.get(method.slug, identity.id)
        if config is None:
            # One status and wording for get, update and delete (Infisical mixes 400 and 404).
            raise NotFoundError(f"The identity does not have {method.label} attached")
        return config

    async def _attach(self, method: InfisicalAuthMethod, req: FaceRequest) -> Any:
        issues = Issues()
        fields = method.parse_config(req.body, issues, attach=True)
        values = parse_shared(req.body, issues, attach=True, current=None)
        issues.raise_if_any()
        identity = await self._services.identities.require(req.identity_id())
        check_shared(values, None)
        now = self._now()
        config = new_config(identity.id, values, fields, now)
        # The token group first: a config is never visible without the trusted IPs its
        # tokens are checked against (a group left by a refused attach has no tokens).
        await self._ctx.tokens.set_group(config.token_group, config.accessTokenTrustedIps)
        if not await self._services.configs.create(method.slug, config):
            await self._ctx.tokens.drop_groups(config.token_group)
            raise BadRequestError(f"Failed to add {method.label} to already configured identity")
        # Only once the config is ours: a refused attach must not touch the live method.
        await method.attached(config)
        await self._services.identities.set_method(identity.id, method.slug, True, now)
        return self._render(method, config)

    async def _update(self, method: InfisicalAuthMethod, req: FaceRequest) -> Any:
        issues = Issues()
        fields = method.parse_config(req.body, issues, attach=False)
        values = parse_shared(req.body, issues, attach=False, current=None)
        issues.raise_if_any()
        current = await self._require(method, req)
        now = self._now()

        def change(stored: AuthConfig) -> AuthConfig:
            check_shared(values, stored)  # against what is stored at this moment
            return updated_config(stored, values, fields, now)

        config = await self._services.configs.change(method.slug, current.identityId, change)
        if config is None:
            raise NotFoundError(f"The identity does not have {method.label} attached")
        if "accessTokenTrustedIps" in values:
            # Live: tokens already issued are refused from outside the new list at once.
            await self._ctx.tokens.set_group(config.token_group, config.accessTokenTrustedIps)
        return self._render(method, config)

    async def _delete(self, method: InfisicalAuthMethod, req: FaceRequest) -> Any:
        config = await self._require(method, req)
        # Only the tokens issued through this method's config, not the identity's others.
        await self._ctx.tokens.drop_groups(config.token_group)
        await method.detached(config)
        await self._services.configs.delete(method.slug, config.identityId)
        await self._services.identities.set_method(
            config.identityId, method.slug, False, self._now()
        )
        return self._render(method, config)

    # -- login ---------------------------------------------------------------------------------

    async def _login(self, method: InfisicalAuthMethod, mounted: Mounted, req: FaceRequest) -> Any:
        grant = await method.login(req, self._services)
        config = grant.config
        identity = await self._services.identities.get(config.identityId)
        if identity is None:  # deleted between the method's check and now
            raise UnauthorizedError("Identity not found")
        budget = effective_max(mounted.info.max_lease_ttl, 0, config.accessTokenMaxTTL)
        login = LoginAuth(
            policies=list(identity.policies),
            metadata={
                **grant.metadata,
                "identity_id": identity.id,
                "identity_name": identity.name,
                "auth_method": method.slug,
            },
            display_name=grant.display_name or identity.name,
            # TTL 0 is "no expiry of its own": the token lives as long as its budget allows.
            ttl=config.accessTokenTTL or budget,
            explicit_max_ttl=config.accessTokenMaxTTL,
            num_uses=config.accessTokenNumUsesLimit,
            internal={IDENTITY_MARK: identity.id, "auth_method": method.slug},
        )
        entry, token, _ = await issue_login_token(
            self._ctx, mounted, login, path=mounted.prefix + "login", group=config.token_group
        )
        req.issued = auth_block(entry, token, ttl=entry.creation_ttl)
        return _token_answer(token, entry.creation_ttl, entry, mounted.info.max_lease_ttl)

    # -- renew and revoke ----------------------------------------------------------------------

    async def renew(self, req: FaceRequest) -> Any:
        token = _access_token(req)
        authed = await self._ctx.tokens.check(token, req.client_ip)
        _require_identity_token(authed.entry)
        issuer = await self._ctx.router.by_accessor(authed.entry.mount_accessor)
        if issuer is None:
            raise UnauthorizedError("The auth method that issued this token no longer exists")
        stored, ttl, _ = await renew_token(self._ctx, issuer.info, authed.hash, authed.entry, 0)
        return _token_answer(token, ttl, stored, issuer.info.max_lease_ttl)

    async def revoke(self, req: FaceRequest) -> Any:
        token = _access_token(req)
        store = self._ctx.tokens
        token_hash = store.hash(token)
        entry = await store.get(token_hash)
        # Revoking needs no trusted IP: whoever holds a leaked token may always kill it.
        if entry is None or not store.is_live(entry):
            raise UnauthorizedError("No identity access token found")
        _require_identity_token(entry)
        await store.revoke_tree(token_hash)
        return {"message": "Successfully revoked access token"}


def _access_token(req: FaceRequest) -> str:
    issues = Issues()
    token = string(req.body, "accessToken", issues)
    issues.raise_if_any()
    assert token is not None
    if not token:
        raise ValidationFailure(
            [{"code": "too_small", "path": ["accessToken"], "message": "Access token required"}]
        )
    return token


def _require_identity_token(entry: TokenEntry) -> None:
    if entry.login is None or IDENTITY_MARK not in entry.login.internal:
        raise BadRequestError("Token is not an identity access token")


def _token_answer(token: str, ttl: int, entry: TokenEntry, mount_max: int) -> dict[str, Any]:
    """Infisical's login and renew body. `expiresIn` is the token's real lifetime in seconds
    and `accessTokenMaxTTL` its real budget from first issue (the mount's max applies too)."""
    return {
        "accessToken": token,
        "expiresIn": int(ttl),
        "accessTokenMaxTTL": effective_max(mount_max, 0, entry.explicit_max_ttl),
        "tokenType": "Bearer",
    }
