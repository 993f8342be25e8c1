"""Universal Auth: the AppRole method on the Infisical face (`/api/v1/auth/universal-auth/`).

One model for both faces. Attaching Universal Auth to an identity creates the AppRole role
`ua-<identityId>` whose role ID is the generated `clientId`; client secrets are that role's
secret IDs (64 hex characters, kept only as keyed hashes), their ids its accessors. So the use
limits (spent atomically), expiry index and lockout counter are the AppRole ones, and a client
secret works on both faces. What is Infisical's own lives in the identity's config: the
clientSecretTrustedIps (checked before the secret, so a caller outside learns nothing), and the
lockout settings (Infisical's defaults: 3 failures, 300 s, counter reset 30 s).

Answers are Infisical's. Every refused login is 401 `Invalid credentials` except what Infisical
itself tells apart without revealing a secret: a caller outside the trusted IPs (403, before
any secret is looked at), a locked identity, and a client secret that was used up (its last
use was certainly made by its holder, and no guess can reach that answer).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from core.framework import Clock, ip_allowed
from core.framework.infisical import (
    BAD_IP,
    DEFAULT_TRUSTED_IPS,
    IP_MESSAGE,
    AuthConfig,
    BadRequestError,
    FaceRequest,
    FaceRoute,
    FaceServices,
    ForbiddenError,
    InfisicalAuthMethod,
    Issues,
    LoginGrant,
    NotFoundError,
    UnauthorizedError,
    integer,
    object_list,
    render_ip,
    string,
)
from core.framework.path import Operation
from plugins.approle.lockout import Lockout, LockoutPolicy
from plugins.approle.role import Role, RoleStore
from plugins.approle.secret_ids import SecretEntry, SecretIdStore, Spent

INVALID = "Invalid credentials"
LOCKED = "This identity auth method is temporarily locked, please try again later"
USED_UP = "Access denied due to client secret usage limit reached"
MAX_TTL = 315_360_000
_LOCKOUT_FIELDS = {
    # name: (default, minimum, maximum) as Infisical's schema
    "lockoutThreshold": (3, 1, 30),
    "lockoutDurationSeconds": (300, 30, 86_400),
    "lockoutCounterResetSeconds": (30, 5, 3600),
}


def role_name(identity_id: str) -> str:
    return f"ua-{identity_id}".lower()


def _iso(ts: float) -> str:
    moment = datetime.fromtimestamp(ts, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class UniversalAuthInfisical(InfisicalAuthMethod):
    slug = "universal-auth"
    config_key = "identityUniversalAuth"
    label = "Universal Auth"
    default_mount = "approle"

    def __init__(
        self,
        roles: RoleStore,
        secrets: SecretIdStore,
        lockout: Lockout,
        clock: Clock,
        logger: logging.Logger,
    ) -> None:
        self._roles = roles
        self._secrets = secrets
        self._lockout = lockout
        self._clock = clock
        self._log = logger

    # -- config ----------------------------------------------------------------------------------

    def parse_config(
        self, body: Mapping[str, Any], issues: Issues, *, attach: bool
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if attach:
            out["clientId"] = str(uuid.uuid4())
        ips = object_list(body, "clientSecretTrustedIps", issues, min_items=1)
        if ips is not None:
            addresses = []
            for index, item in enumerate(ips):
                address = string(item, "ipAddress", issues, path=["clientSecretTrustedIps", index])
                if address is not None and not _valid_network(address.strip()):
                    issues.add(["clientSecretTrustedIps", index, "ipAddress"], "custom", BAD_IP)
                elif address is not None:
                    addresses.append(address.strip())
            out["clientSecretTrustedIps"] = addresses
        elif attach:
            out["clientSecretTrustedIps"] = list(DEFAULT_TRUSTED_IPS)
        enabled = body.get("lockoutEnabled")
        if enabled is not None and not isinstance(enabled, bool):
            issues.wrong_type(["lockoutEnabled"], "boolean", enabled)
        elif enabled is not None or attach:
            out["lockoutEnabled"] = True if enabled is None else enabled
        for name, (default, low, high) in _LOCKOUT_FIELDS.items():
            value = integer(body, name, issues, minimum=low, maximum=high)
            if value is not None or attach:
                out[name] = default if value is None else value
        return out

    def render_config(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "clientId": fields.get("clientId", ""),
            "clientSecretTrustedIps": [
                render_ip(a) for a in fields.get("clientSecretTrustedIps", [])
            ],
            "accessTokenPeriod": 0,
            **{k: fields.get(k) for k in ("lockoutEnabled", *_LOCKOUT_FIELDS)},
        }

    async def attached(self, config: AuthConfig) -> None:
        """The identity's principal: a role whose role ID is the clientId (a previous one of
        the same identity, and its secrets, go first)."""
        name = role_name(config.identityId)
        await self.detached(config)
        role = Role(role_id=config.fields["clientId"])
        await self._roles.put(name, role, None)

    async def detached(self, config: AuthConfig) -> None:
        name = role_name(config.identityId)
        role = await self._roles.get(name)
        if role is not None:
            await self._roles.delete(name, role)
            await self._secrets.destroy_role(name)
        await self._lockout.clear(name)

    # -- login -----------------------------------------------------------------------------------

    async def login(self, req: FaceRequest, services: FaceServices) -> LoginGrant:
        issues = Issues()
        client_id = string(req.body, "clientId", issues)
        client_secret = string(req.body, "clientSecret", issues)
        issues.raise_if_any()
        assert client_id is not None and client_secret is not None
        client_id, client_secret = client_id.strip(), client_secret.strip()
        name = await self._roles.name_for_role_id(client_id) if client_id else None
        config = None
        if name is not None and name.startswith("ua-"):
            config = await services.configs.get(self.slug, name[3:])
        if config is None or config.fields.get("clientId") != client_id:
            self._secrets.hashes(client_secret)  # the work a known clientId costs
            raise UnauthorizedError(INVALID, log_detail="unknown clientId")
        assert name is not None
        fields = config.fields
        policy = LockoutPolicy(
            threshold=int(fields["lockoutThreshold"]),
            duration=int(fields["lockoutDurationSeconds"]),
            counter_reset=int(fields["lockoutCounterResetSeconds"]),
            disabled=not fields["lockoutEnabled"],
        )
        if not ip_allowed(req.client_ip, fields["clientSecretTrustedIps"]):
            raise ForbiddenError(IP_MESSAGE, log_detail=f"login from {req.client_ip}")
        now = self._clock.now()
        lock = await self._lockout.state(name, policy)
        if self._lockout.is_locked(lock, now):
            raise UnauthorizedError(LOCKED, log_detail=f"identity {config.identityId} is locked")
        found = await self._secrets.find(name, client_secret, now) if client_secret else None
        if found is None:
            await self._lockout.record_failure(name, now, policy)
            raise UnauthorizedError(INVALID, log_detail="wrong or expired client secret")
        lookup, entry = found
        if entry.spent:
            raise UnauthorizedError(USED_UP, log_detail=f"client secret {entry.accessor}")
        if entry.cidr_list and not ip_allowed(req.client_ip, entry.cidr_list):
            raise ForbiddenError(IP_MESSAGE, log_detail=f"login from {req.client_ip}")
        if entry.num_uses > 0:
            try:
                await self._secrets.spend(name, lookup, now)
            except Spent:
                raise UnauthorizedError(
                    USED_UP, log_detail=f"client secret {entry.accessor}"
                ) from None
        if lock is not None:
            await self._lockout.clear(name)
        self._log.info("universal-auth login of identity %s", config.identityId)
        return LoginGrant(config, metadata={"client_secret_id": entry.accessor})

    # -- client secrets --------------------------------------------------------------------------

    def routes(self, services: FaceServices) -> list[FaceRoute]:
        base = "identities/{identityId}/client-secrets"

        async def create(req: FaceRequest) -> Any:
            return await self._create(req, services)

        async def listing(req: FaceRequest) -> Any:
            return await self._list(req, services)

        async def read(req: FaceRequest) -> Any:
            config, name = await self._principal(req, services)
            return {"clientSecretData": await self._secret_data(req, config, name)}

        async def revoke(req: FaceRequest) -> Any:
            config, name = await self._principal(req, services)
            data = await self._secret_data(req, config, name)
            await self._secrets.destroy_accessor(name, req.captures["clientSecretId"])
            data["isClientSecretRevoked"] = True
            data["updatedAt"] = _iso(self._clock.now())
            return {"clientSecretData": data}

        return [
            FaceRoute("POST", base, create, Operation.CREATE),
            FaceRoute("GET", base, listing, Operation.READ),
            FaceRoute("GET", base + "/{clientSecretId}", read, Operation.READ),
            FaceRoute("POST", base + "/{clientSecretId}/revoke", revoke, Operation.UPDATE),
        ]

    async def _principal(self, req: FaceRequest, services: FaceServices) -> tuple[AuthConfig, str]:
        identity = await services.identities.require(req.identity_id())
        config = await services.configs.get(self.slug, identity.id)
        if config is None:
            raise NotFoundError(f"The identity does not have {self.label} attached")
        return config, role_name(identity.id)

    async def _create(self, req: FaceRequest, services: FaceServices) -> Any:
        issues = Issues()
        description = string(req.body, "description", issues, required=False)
        limit = integer(req.body, "numUsesLimit", issues, minimum=0)
        ttl = integer(req.body, "ttl", issues, minimum=0, maximum=MAX_TTL)
        issues.raise_if_any()
        config, name = await self._principal(req, services)
        if await self._roles.get(name) is None:
            raise BadRequestError("The identity's Universal Auth has no principal; attach it again")
        secret = os.urandom(32).hex()
        now = self._clock.now()
        entry = SecretEntry(
            accessor=str(uuid.uuid4()),
            verifier="",
            num_uses=limit or 0,
            ttl=ttl or 0,
            creation_time=now,
            expiration_time=now + ttl if ttl else 0.0,
            last_updated_time=now,
            description=(description or "").strip(),
            prefix=secret[:4],
            uses_limit=limit or 0,
        )
        await self._secrets.create(name, secret, entry)
        return {"clientSecret": secret, "clientSecretData": _render(entry, config)}

    async def _list(self, req: FaceRequest, services: FaceServices) -> Any:
        config, name = await self._principal(req, services)
        now = self._clock.now()
        out = []
        for accessor in await self._secrets.accessors(name):
            found = await self._secrets.by_accessor(name, accessor)
            entry = found[1] if found else None
            if entry is not None and not entry.spent and not entry.expired(now):
                out.append(_render(entry, config))
        out.sort(key=lambda item: str(item["createdAt"]), reverse=True)
        return {"clientSecretData": out}

    async def _secret_data(self, req: FaceRequest, config: AuthConfig, name: str) -> dict[str, Any]:
        secret_id = req.captures["clientSecretId"].strip()
        found = await self._secrets.by_accessor(name, secret_id)
        entry = found[1] if found else None
        if entry is None or entry.spent or entry.expired(self._clock.now()):
            raise NotFoundError(f"Failed to find client secret with ID {secret_id}")
        return _render(entry, config)


def _valid_network(value: str) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True


def _render(entry: SecretEntry, config: AuthConfig) -> dict[str, Any]:
    return {
        "id": entry.accessor,
        "createdAt": _iso(entry.creation_time),
        "updatedAt": _iso(entry.last_updated_time),
        "description": entry.description,
        "clientSecretPrefix": entry.prefix,
        "clientSecretNumUses": entry.uses_limit - entry.num_uses if entry.uses_limit else 0,
        "clientSecretNumUsesLimit": entry.uses_limit,
        "clientSecretTTL": entry.ttl,
        "identityUAId": config.id,
        "isClientSecretRevoked": False,
    }
