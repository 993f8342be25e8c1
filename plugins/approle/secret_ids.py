"""Secret IDs: stored only as keyed hashes, spent atomically, swept through an expiry index.

A secret ID is hashed once (keyed BLAKE2b, 48 bytes): the first 16 bytes name its storage key,
the other 32 are a verifier kept inside the entry and compared in constant time. Nothing in
storage lets anyone recover a secret ID or test a guess without the mount's key. Keys in the
mount's storage view (`<role>` is the lower-case role name):

    secret/<role>/<lookup hex>          the SecretEntry
    accessor/<role>/<accessor>          -> <lookup hex> (LIST and the accessor endpoints)
    expiry/<12-digit epoch>/<role>/<lookup hex>   time-ordered, so a sweep reads only what expired

An entry and its index keys are written in one transaction. A use-limited secret ID is spent by
one atomic read-modify-write of its entry, so of many concurrent logins with a 1-use secret ID
(in any number of server processes sharing the storage) exactly one succeeds.

The last use leaves a tombstone (`num_uses = -1`) for SPENT_KEEP seconds instead of deleting the
entry at once: a login that lost the race for the last use, or replays a used-up secret ID, is
refused like any other but is not counted as a guess, so concurrent legitimate logins cannot
lock their own role out. The tombstone is in the expiry index like any entry; its accessor is
gone at once (Vault's answers for a used-up secret ID).
"""

from __future__ import annotations

import math
import uuid

import msgspec

from core.framework import Delete, KeyedHasher, Put, StorageView, WriteOp, same_digest
from core.framework.fields import json_encoder

SECRET_PREFIX = "secret/"
ACCESSOR_PREFIX = "accessor/"
EXPIRY_PREFIX = "expiry/"
_EXPIRY_DIGITS = 12
SPENT = -1
SPENT_KEEP = 900  # seconds a used-up secret ID is remembered (Vault's lockout counter window)


class SecretEntry(msgspec.Struct, kw_only=True):
    accessor: str
    verifier: str  # hex of the second part of the keyed hash
    num_uses: int = 0  # remaining uses; 0 = unlimited
    ttl: int = 0
    creation_time: float
    expiration_time: float = 0.0  # 0 = never
    last_updated_time: float
    metadata: dict[str, str] = msgspec.field(default_factory=dict)
    cidr_list: list[str] = msgspec.field(default_factory=list)
    token_bound_cidrs: list[str] = msgspec.field(default_factory=list)
    # The Infisical face's view of a client secret: its description, first 4 characters (for
    # display only; never used to find it) and the use limit it was created with.
    description: str = ""
    prefix: str = ""
    uses_limit: int = 0

    def expired(self, now: float) -> bool:
        return bool(self.expiration_time) and self.expiration_time <= now

    @property
    def spent(self) -> bool:
        return self.num_uses == SPENT


_decoder = msgspec.json.Decoder(SecretEntry)
_encoder = json_encoder()


class AlreadyRegistered(Exception):
    pass


class Spent(Exception):
    """The secret ID was used up, expired or destroyed between the check and the spend."""


def new_secret_id() -> str:
    return str(uuid.uuid4())


class SecretIdStore:
    def __init__(self, storage: StorageView, hasher: KeyedHasher) -> None:
        self._storage = storage
        self._hasher = hasher

    def hashes(self, secret_id: str) -> tuple[str, str]:
        """(lookup, verifier) of a secret ID: one keyed hash split in two."""
        digest = self._hasher.digest("approle secret", secret_id, size=48)
        return digest[:16].hex(), digest[16:].hex()

    @staticmethod
    def _key(role: str, lookup: str) -> str:
        return f"{SECRET_PREFIX}{role}/{lookup}"

    key = _key  # the storage key of a secret ID (from its lookup hash), to read with others

    async def find(self, role: str, secret_id: str, now: float) -> tuple[str, SecretEntry] | None:
        """The entry of `secret_id` under `role`, live or spent (None if unknown, wrong or
        expired)."""
        lookup, verifier = self.hashes(secret_id)
        return self.check(await self._storage.get(self._key(role, lookup)), lookup, verifier, now)

    @staticmethod
    def check(
        raw: bytes | None, lookup: str, verifier: str, now: float
    ) -> tuple[str, SecretEntry] | None:
        """`find` from the entry as read at `key(role, lookup)`."""
        entry = None if raw is None else _decoder.decode(raw)
        if entry is None or not same_digest(entry.verifier, verifier) or entry.expired(now):
            return None
        return lookup, entry

    async def _read(self, role: str, lookup: str) -> SecretEntry | None:
        raw = await self._storage.get(self._key(role, lookup))
        return None if raw is None else _decoder.decode(raw)

    async def by_accessor(self, role: str, accessor: str) -> tuple[str, SecretEntry | None] | None:
        """None if the accessor is unknown; (lookup, None) if its secret ID is gone or expired
        (Vault answers the two differently)."""
        if not accessor or "/" in accessor:
            return None
        raw = await self._storage.get(f"{ACCESSOR_PREFIX}{role}/{accessor}")
        if raw is None:
            return None
        lookup = raw.decode()
        return lookup, await self._read(role, lookup)

    async def create(self, role: str, secret_id: str, entry: SecretEntry) -> None:
        """Store a new secret ID; AlreadyRegistered if the role has it already."""
        lookup, entry.verifier = self.hashes(secret_id)
        ops: list[WriteOp] = [Put(f"{ACCESSOR_PREFIX}{role}/{entry.accessor}", lookup.encode())]
        if entry.expiration_time:
            ops.append(Put(_expiry_key(entry.expiration_time, role, lookup), b""))

        def insert(raw: bytes | None) -> bytes:
            if raw is not None:
                raise AlreadyRegistered
            return _encoder.encode(entry)

        await self._storage.update(self._key(role, lookup), insert, also=ops)

    async def spend(self, role: str, lookup: str, now: float) -> None:
        """Spend one use of a use-limited secret ID, atomically; the last use leaves a
        tombstone (see the module docstring).

        Raises Spent when another login took the last use first (or it expired meanwhile).
        """
        last: list[SecretEntry] = []

        def take(raw: bytes | None) -> bytes | None:
            if raw is None:
                raise Spent
            entry = _decoder.decode(raw)
            if entry.expired(now) or entry.spent:
                raise Spent
            if entry.num_uses == 1:
                last.append(msgspec.structs.replace(entry))
                entry.num_uses = SPENT
                entry.expiration_time = now + SPENT_KEEP
            elif entry.num_uses > 1:
                entry.num_uses -= 1
            entry.last_updated_time = now
            return _encoder.encode(entry)

        await self._storage.update(self._key(role, lookup), take)
        if last:
            tombstone = _expiry_key(now + SPENT_KEEP, role, lookup)
            await self._storage.write(
                [*self._index_deletes(role, lookup, last[0]), Put(tombstone, b"")]
            )

    async def destroy(self, role: str, lookup: str) -> bool:
        """Delete a secret ID and its index keys; False if it was not there."""
        entry = await self._read(role, lookup)
        if entry is None:
            return False
        await self._storage.write(
            [Delete(self._key(role, lookup)), *self._index_deletes(role, lookup, entry)]
        )
        return True

    async def destroy_accessor(self, role: str, accessor: str) -> bool:
        found = await self.by_accessor(role, accessor)
        if found is None:
            return False
        lookup, _ = found
        if not await self.destroy(role, lookup):
            await self._storage.delete(f"{ACCESSOR_PREFIX}{role}/{accessor}")
        return True

    async def accessors(self, role: str, *, after: str = "", limit: int | None = None) -> list[str]:
        return await self._storage.list(f"{ACCESSOR_PREFIX}{role}/", after=after, limit=limit)

    async def destroy_role(self, role: str) -> int:
        """Every secret ID of a role (the role is being deleted)."""
        count = 0
        while True:
            lookups = await self._storage.list(f"{SECRET_PREFIX}{role}/", limit=500)
            if not lookups:
                break
            for lookup in lookups:
                if not await self.destroy(role, lookup):
                    await self._storage.delete(self._key(role, lookup))
                count += 1
        # Accessors whose entry a crash left behind.
        for accessor in await self.accessors(role):
            await self._storage.delete(f"{ACCESSOR_PREFIX}{role}/{accessor}")
        return count

    def _index_deletes(self, role: str, lookup: str, entry: SecretEntry) -> list[WriteOp]:
        ops: list[WriteOp] = [Delete(f"{ACCESSOR_PREFIX}{role}/{entry.accessor}")]
        if entry.expiration_time:
            ops.append(Delete(_expiry_key(entry.expiration_time, role, lookup)))
        return ops

    async def sweep(self, now: float, *, batch: int = 500) -> int:
        """Delete secret IDs that expired by `now`, reading only the expired part of the
        index (it is in time order: the first live key ends the sweep). Returns how many."""
        removed = 0
        while True:
            keys = await self._storage.list(EXPIRY_PREFIX, limit=batch)
            if not keys:
                return removed
            for key in keys:
                stamp, role, lookup = key.split("/", 2)
                if int(stamp) > now:
                    return removed
                entry = await self._read(role, lookup)
                ops: list[WriteOp] = [Delete(EXPIRY_PREFIX + key)]
                if entry is not None and entry.expired(now):
                    ops += [
                        Delete(self._key(role, lookup)),
                        *self._index_deletes(role, lookup, entry),
                    ]
                    removed += 1
                await self._storage.write(ops)


def _expiry_key(expire_time: float, role: str, lookup: str) -> str:
    # Rounded up, so "key time <= now" always means the entry really has expired.
    return f"{EXPIRY_PREFIX}{math.ceil(expire_time):0{_EXPIRY_DIGITS}d}/{role}/{lookup}"
