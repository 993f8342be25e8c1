"""An AppRole role: what a login needs (role ID, secret ID rules, CIDRs) and the token it gets.

Keys in the mount's storage view:

    role/<lower-case name>          the Role
    role_id/<keyed hash of role_id> -> role name (role IDs are not secret, but a hash keeps
                                       the key short whatever the client chose)
    lockout/<lower-case name>       the role's failed-login count and lock (lockout.py); it goes
                                       with the role, so a role made again under the name of a
                                       locked one starts unlocked (Vault keys it by role ID)

A role ID is unique in its mount: the index entry is claimed with an atomic update, so two roles
can never end up with one role ID, whichever server process wrote them.
"""

from __future__ import annotations

import re
import uuid

import msgspec

from core.framework import BadRequest, Delete, KeyedHasher, Put, StorageView, WriteOp
from core.framework.fields import json_encoder
from core.framework.token_fields import TokenSettings

ROLE_PREFIX = "role/"
ROLE_ID_PREFIX = "role_id/"
LOCKOUT_PREFIX = "lockout/"
_NAME = re.compile(r"\w([\w.-]*\w)?", re.ASCII)
_MAX_NAME = 128
# The same rule for the OpenAPI document's `{role}` parameter (names are lower-cased first).
ROLE_NAME = msgspec.Meta(pattern=f"^{_NAME.pattern}$", max_length=_MAX_NAME)
MAX_ID_BYTES = 4096  # Vault's limit on role and secret IDs


class Role(msgspec.Struct, kw_only=True):
    role_id: str
    bind_secret_id: bool = True
    # None: never set (Vault reads it back as null); [] once cleared.
    secret_id_bound_cidrs: list[str] | None = None
    secret_id_num_uses: int = 0
    secret_id_ttl: int = 0
    local_secret_ids: bool = False
    token_strictly_bind_ip: bool = False
    token: TokenSettings = msgspec.field(default_factory=TokenSettings)


_decoder = msgspec.json.Decoder(Role)
_encoder = json_encoder()


class RoleIdInUse(Exception):
    pass


def check_name(name: str) -> str:
    lowered = name.lower()
    if len(lowered) > _MAX_NAME or not _NAME.fullmatch(lowered):
        raise BadRequest(
            f"invalid role name {name!r}: use letters, digits, '_', '-' and '.', "
            f"starting and ending with a letter, digit or '_' (at most {_MAX_NAME} characters)"
        )
    return lowered


def new_role_id() -> str:
    return str(uuid.uuid4())


class RoleStore:
    def __init__(self, storage: StorageView, hasher: KeyedHasher) -> None:
        self._storage = storage
        self._hasher = hasher

    def role_id_key(self, role_id: str) -> str:
        return ROLE_ID_PREFIX + self._hasher.hexdigest("approle role_id", role_id)

    @property
    def storage(self) -> StorageView:
        return self._storage

    @staticmethod
    def key(name: str) -> str:
        """The storage key of role `name` (for a caller reading it with other keys at once)."""
        return ROLE_PREFIX + check_name(name)

    @staticmethod
    def decode(raw: bytes | None) -> Role | None:
        return None if raw is None else _decoder.decode(raw)

    async def get(self, name: str) -> Role | None:
        return self.decode(await self._storage.get(self.key(name)))

    async def name_for_role_id(self, role_id: str) -> str | None:
        raw = await self._storage.get(self.role_id_key(role_id))
        return None if raw is None else raw.decode()

    async def put(self, name: str, role: Role, previous_role_id: str | None) -> None:
        """Store a role and claim its role ID (400 `role_id already in use` when another role
        holds it); the old role ID is released in the same transaction."""
        name = check_name(name)
        ops: list[WriteOp] = [Put(ROLE_PREFIX + name, _encoder.encode(role))]
        if previous_role_id is not None and previous_role_id != role.role_id:
            ops.append(Delete(self.role_id_key(previous_role_id)))

        def claim(raw: bytes | None) -> bytes:
            if raw is not None and raw.decode() != name:
                raise RoleIdInUse
            return name.encode()

        try:
            await self._storage.update(self.role_id_key(role.role_id), claim, also=ops)
        except RoleIdInUse:
            raise BadRequest("role_id already in use") from None

    async def delete(self, name: str, role: Role) -> None:
        name = check_name(name)
        await self._storage.write(
            [
                Delete(ROLE_PREFIX + name),
                Delete(self.role_id_key(role.role_id)),
                Delete(LOCKOUT_PREFIX + name),
            ]
        )

    async def names(self, *, after: str = "", limit: int | None = None) -> list[str]:
        return await self._storage.list(ROLE_PREFIX, after=after, limit=limit)
