"""A role: which Alibaba Cloud identities may log in through it, and the token they get.

Stored under `role/<lower-case name>` in the mount's storage view. Role names are
case-insensitive everywhere (Vault lower-cases on write but not at login; we do both).
"""

from __future__ import annotations

import re

import msgspec

from core.framework.errors import BadRequest
from core.framework.fields import json_encoder
from core.framework.storage import StorageView
from core.framework.token_fields import TokenSettings

ROLE_PREFIX = "role/"
_NAME = re.compile(r"\w([\w.-]*\w)?", re.ASCII)
_MAX_NAME = 128
# The same rule for the OpenAPI document's `{role}` parameter (names are lower-cased first).
ROLE_NAME = msgspec.Meta(pattern=f"^{_NAME.pattern}$", max_length=_MAX_NAME)


class Role(msgspec.Struct, kw_only=True):
    arn: str
    # Beyond Vault: glob patterns an assumed-role session name must match (e.g. `vm-ram-i-*`).
    bound_session_names: list[str] = msgspec.field(default_factory=list)
    token: TokenSettings = msgspec.field(default_factory=TokenSettings)


_decoder = msgspec.json.Decoder(Role)
_encoder = json_encoder()


def role_key(name: str) -> str:
    """The storage key of a role; refuses names Vault's role pattern would not route."""
    lowered = name.lower()
    if len(lowered) > _MAX_NAME or not _NAME.fullmatch(lowered):
        raise BadRequest(
            f"invalid role name {name!r}: use letters, digits, '_', '-' and '.', "
            f"starting and ending with a letter, digit or '_' (at most {_MAX_NAME} characters)"
        )
    return ROLE_PREFIX + lowered


class RoleStore:
    def __init__(self, storage: StorageView) -> None:
        self._storage = storage

    async def get(self, name: str) -> Role | None:
        raw = await self._storage.get(role_key(name))
        return None if raw is None else _decoder.decode(raw)

    async def put(self, name: str, role: Role) -> None:
        await self._storage.put(role_key(name), _encoder.encode(role))

    async def delete(self, name: str) -> None:
        await self._storage.delete(role_key(name))

    async def names(self) -> list[str]:
        return await self._storage.list(ROLE_PREFIX)
