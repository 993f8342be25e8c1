"""Machine identities: `/api/v1/identities[/{identityId}]`, kept under `infisical/identity/<id>`.

An identity has Infisical's `name`, `role` and `metadata`, plus wardgate's `policies`: the ACL
policies its access tokens carry (besides `default`). `role` is kept and shown for Infisical's
clients; it grants nothing (policies do).
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec

from core.infisical import schema
from core.infisical.errors import NotFoundError
from core.infisical.schema import Issues
from core.storage.base import StorageView
from core.tokens.issue import sanitize_policies

_SLUG_RE = re.compile(r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$")
_POLICY_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,127}$")
DEFAULT_ROLE = "no-access"


class MetadataItem(msgspec.Struct):
    key: str
    value: str


class Identity(msgspec.Struct, kw_only=True):
    id: str
    name: str
    role: str
    metadata: list[MetadataItem]
    policies: list[str]
    authMethods: list[str]
    createdAt: str
    updatedAt: str


_decoder = msgspec.json.Decoder(Identity)


def now_iso(epoch: float) -> str:
    """JavaScript's `Date.toISOString()`: milliseconds and `Z`."""
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


class IdentityStore:
    def __init__(self, storage: StorageView) -> None:
        self._storage = storage

    async def get(self, identity_id: str) -> Identity | None:
        if not is_uuid(identity_id):
            return None
        raw = await self._storage.get(identity_id.lower())
        return None if raw is None else _decoder.decode(raw)

    async def require(self, identity_id: str) -> Identity:
        identity = await self.get(identity_id)
        if identity is None:
            raise NotFoundError(f"Failed to find identity with ID {identity_id}")
        return identity

    async def put(self, identity: Identity) -> None:
        await self._storage.put(identity.id, msgspec.json.encode(identity))

    async def delete(self, identity_id: str) -> None:
        await self._storage.delete(identity_id)

    async def all(self) -> list[Identity]:
        found = []
        for key in await self._storage.list(""):
            identity = await self.get(key)
            if identity is not None:
                found.append(identity)
        return found

    async def set_method(self, identity_id: str, slug: str, attached: bool, now: str) -> None:
        """Add or remove `slug` in the identity's authMethods, atomically."""

        def change(raw: bytes | None) -> bytes | None:
            if raw is None:
                return None
            identity = _decoder.decode(raw)
            methods = [m for m in identity.authMethods if m != slug]
            if attached:
                methods.append(slug)
            identity.authMethods = sorted(methods)
            identity.updatedAt = now
            return msgspec.json.encode(identity)

        await self._storage.update(identity_id, change)


def parse_identity(body: dict[str, Any], *, create: bool) -> dict[str, Any]:
    """Infisical's identity fields (`name`, `role`, `metadata`; `organizationId` is accepted
    and ignored: wardgate has one organization) plus `policies`."""
    issues = Issues()
    out: dict[str, Any] = {}
    name = schema.string(body, "name", issues, required=create, min_length=1, max_length=64)
    role = schema.string(
        body,
        "role",
        issues,
        required=False,
        min_length=1,
        max_length=64,
        pattern=_SLUG_RE,
        pattern_message="Role must be a valid slug",
    )
    if create:
        schema.string(body, "organizationId", issues, required=False)
    items = schema.object_list(body, "metadata", issues)
    metadata: list[MetadataItem] | None = None
    if items is not None:
        metadata = []
        for index, item in enumerate(items):
            key = schema.string(item, "key", issues, min_length=1, path=["metadata", index])
            value = schema.string(item, "value", issues, min_length=1, path=["metadata", index])
            if key is not None and value is not None:
                metadata.append(MetadataItem(key, value))
    policies = _policies(body, issues)
    issues.raise_if_any()
    given: dict[str, object] = {"name": name, "role": role, "metadata": metadata}
    out.update({field: value for field, value in given.items() if value is not None})
    if policies is not None:
        out["policies"] = policies
    if create:
        out.setdefault("role", DEFAULT_ROLE)
        out.setdefault("metadata", [])
        out.setdefault("policies", [])
    return out


def _policies(body: dict[str, Any], issues: Issues) -> list[str] | None:
    value = body.get("policies", schema.MISSING)
    if value is schema.MISSING:
        return None
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        issues.wrong_type(["policies"], "array of strings", value)
        return None
    cleaned = sanitize_policies(value, add_default=False)
    if "root" in cleaned:
        issues.add(["policies"], "custom", "An identity cannot hold the root policy")
        return None
    bad = [p for p in cleaned if not _POLICY_RE.fullmatch(p)]
    if bad:
        issues.add(["policies"], "custom", f"Invalid policy name: {bad[0][:64]}")
        return None
    return cleaned


def render(identity: Identity) -> dict[str, Any]:
    return {
        "id": identity.id,
        "name": identity.name,
        "role": identity.role,
        "metadata": [{"key": m.key, "value": m.value} for m in identity.metadata],
        "policies": list(identity.policies),
        "authMethods": list(identity.authMethods),
        "createdAt": identity.createdAt,
        "updatedAt": identity.updatedAt,
    }
