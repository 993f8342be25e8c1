"""An identity's config for one auth method: the fields every Infisical method shares (access
token TTL, max TTL, use limit, trusted IPs) plus the method's own, kept under
`infisical/auth/<slug>/<identityId>` in the server's storage.

Defaults and limits are Infisical's (spec infisical-alicloud.md §4.1, §4.3).
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from core.infisical import schema
from core.infisical.errors import BadRequestError
from core.infisical.schema import Issues
from core.storage.base import StorageView

DEFAULT_TTL = 2_592_000  # 30 days
MAX_TTL_LIMIT = 315_360_000  # 10 years
DEFAULT_TRUSTED_IPS = ["0.0.0.0/0", "::/0"]
TTL_ABOVE_MAX = "Access Token TTL cannot be greater than Access Token Max TTL."
BAD_IP = "The IP is not a valid IPv4, IPv6, or CIDR block"


class AuthConfig(msgspec.Struct, kw_only=True):
    id: str
    identityId: str
    accessTokenTTL: int
    accessTokenMaxTTL: int
    accessTokenNumUsesLimit: int
    accessTokenTrustedIps: list[str]  # addresses or CIDRs, as given (trimmed)
    createdAt: str
    updatedAt: str
    fields: dict[str, Any] = msgspec.field(default_factory=dict)  # the method's own

    @property
    def token_group(self) -> str:
        """The token group of tokens issued under this config (core.tokens.store): its CIDRs
        are the trusted IPs, read on every use. The config id is in the name, so tokens of a
        deleted config never come back to life when a new config is attached."""
        return f"{self.identityId}/{self.id}"


_decoder = msgspec.json.Decoder(AuthConfig)


class _Exists(Exception):
    pass


class AuthConfigStore:
    def __init__(self, storage: StorageView) -> None:
        self._storage = storage

    def _key(self, slug: str, identity_id: str) -> str:
        return f"{slug}/{identity_id}"

    async def get(self, slug: str, identity_id: str) -> AuthConfig | None:
        raw = await self._storage.get(self._key(slug, identity_id))
        return None if raw is None else _decoder.decode(raw)

    async def create(self, slug: str, config: AuthConfig) -> bool:
        """Store a new config; False (nothing written) if the identity already has one, so
        two concurrent attaches cannot both succeed."""

        def only_if_absent(raw: bytes | None) -> bytes | None:
            if raw is not None:
                raise _Exists
            return msgspec.json.encode(config)

        try:
            await self._storage.update(self._key(slug, config.identityId), only_if_absent)
        except _Exists:
            return False
        return True

    async def change(
        self, slug: str, identity_id: str, change: Callable[[AuthConfig], AuthConfig]
    ) -> AuthConfig | None:
        """Apply `change` to the stored config atomically (concurrent updates each see the
        other's result); None if there is no config."""

        def apply(raw: bytes | None) -> bytes | None:
            if raw is None:
                return None
            return msgspec.json.encode(change(_decoder.decode(raw)))

        _, new = await self._storage.update(self._key(slug, identity_id), apply)
        return None if new is None else _decoder.decode(new)

    async def delete(self, slug: str, identity_id: str) -> None:
        await self._storage.delete(self._key(slug, identity_id))


def parse_shared(
    body: Mapping[str, Any], issues: Issues, *, attach: bool, current: AuthConfig | None
) -> dict[str, Any]:
    """The shared fields that were sent (attach: with Infisical's defaults filled in)."""
    out: dict[str, Any] = {}
    ttl = schema.integer(body, "accessTokenTTL", issues, minimum=0, maximum=MAX_TTL_LIMIT)
    # Max TTL may not be 0 on attach (Infisical: `.min(1)`), may be on update ("unlimited").
    max_ttl = schema.integer(
        body, "accessTokenMaxTTL", issues, minimum=1 if attach else 0, maximum=MAX_TTL_LIMIT
    )
    uses = schema.integer(body, "accessTokenNumUsesLimit", issues, minimum=0)
    ips = schema.object_list(body, "accessTokenTrustedIps", issues, min_items=1)
    addresses: list[str] | None = None
    if ips is not None:
        addresses = []
        for index, item in enumerate(ips):
            address = schema.string(
                item, "ipAddress", issues, path=["accessTokenTrustedIps", index]
            )
            if address is not None:
                addresses.append(address)
    if attach:
        ttl = DEFAULT_TTL if ttl is None else ttl
        max_ttl = DEFAULT_TTL if max_ttl is None else max_ttl
        uses = 0 if uses is None else uses
        addresses = list(DEFAULT_TRUSTED_IPS) if addresses is None else addresses
        if not issues.items and ttl > max_ttl:
            issues.add([], "custom", TTL_ABOVE_MAX)
    elif ttl and max_ttl and ttl > max_ttl:
        issues.add([], "custom", TTL_ABOVE_MAX)
    for name, value in (
        ("accessTokenTTL", ttl),
        ("accessTokenMaxTTL", max_ttl),
        ("accessTokenNumUsesLimit", uses),
        ("accessTokenTrustedIps", addresses),
    ):
        if value is not None:
            out[name] = value
    return out


def check_shared(values: Mapping[str, Any], current: AuthConfig | None) -> None:
    """Service-level checks after the schema passed (Infisical answers these with 400)."""
    for address in values.get("accessTokenTrustedIps", []):
        if not _valid_ip_or_cidr(address):
            raise BadRequestError(BAD_IP)
    if current is not None:
        # As Infisical: 0 counts as "not given" here, so the stored value applies.
        ttl = values.get("accessTokenTTL") or current.accessTokenTTL
        max_ttl = values.get("accessTokenMaxTTL") or current.accessTokenMaxTTL
        if max_ttl > 0 and ttl > max_ttl:
            raise BadRequestError("Access token TTL cannot be greater than max TTL")


def _valid_ip_or_cidr(value: str) -> bool:
    try:
        if "/" in value:
            address, _, prefix = value.partition("/")
            parsed = ipaddress.ip_address(address)
            return prefix.isdigit() and int(prefix) <= parsed.max_prefixlen
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return False


def new_config(
    identity_id: str, values: Mapping[str, Any], fields: dict[str, Any], now: str
) -> AuthConfig:
    return AuthConfig(
        id=str(uuid.uuid4()),
        identityId=identity_id,
        accessTokenTTL=values["accessTokenTTL"],
        accessTokenMaxTTL=values["accessTokenMaxTTL"],
        accessTokenNumUsesLimit=values["accessTokenNumUsesLimit"],
        accessTokenTrustedIps=values["accessTokenTrustedIps"],
        createdAt=now,
        updatedAt=now,
        fields=fields,
    )


def updated_config(
    current: AuthConfig, values: Mapping[str, Any], fields: dict[str, Any], now: str
) -> AuthConfig:
    return msgspec.structs.replace(
        current, **values, fields={**current.fields, **fields}, updatedAt=now
    )


def render_ip(address: str) -> dict[str, Any]:
    """Infisical's stored form: `{ipAddress, type, prefix}`; a bare address has no prefix."""
    host, slash, prefix = address.partition("/")
    kind = "ipv6" if ":" in host else "ipv4"
    shown: dict[str, Any] = {"ipAddress": host, "type": kind}
    if slash:
        shown["prefix"] = int(prefix)
    return shown


def render_shared(config: AuthConfig) -> dict[str, Any]:
    return {
        "id": config.id,
        "accessTokenTTL": config.accessTokenTTL,
        "accessTokenMaxTTL": config.accessTokenMaxTTL,
        "accessTokenNumUsesLimit": config.accessTokenNumUsesLimit,
        "accessTokenTrustedIps": [render_ip(a) for a in config.accessTokenTrustedIps],
        "createdAt": config.createdAt,
        "updatedAt": config.updatedAt,
        "identityId": config.identityId,
    }
