"""Response wrapping: a response handed out as a single-use wrapping token (Vault's
`X-Vault-Wrap-TTL`, `sys/wrapping/*`).

A wrapped response is kept as safely as a token: the wrapping token itself is never stored,
only a keyed hash of it names the entry, and the response is encrypted (AES-256-GCM) with a key
derived from the wrapping token and the server key. Neither a copy of the database nor the
server key alone reveals a wrapped secret; only the holder of the wrapping token can unwrap it.
Keys under the store's storage view:

    id/<keyed hash of the wrapping token>     the WrapEntry
    expiry/<12-digit epoch>/<hash>            time-ordered, so the sweeper reads only what expired

Unwrapping takes the entry with one atomic read-and-delete, so of two concurrent unwraps (in
any server processes sharing the storage) exactly one gets the response.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import msgspec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.framework.envelope import Envelope, WrapInfoBlock
from core.framework.keyed import KeyedHasher
from core.framework.path import Clock
from core.framework.storage import Delete, Put, StorageView
from core.framework.timefmt import rfc3339
from core.tokens.store import random_id

_EXPIRY_DIGITS = 12
INVALID_WRAPPING_TOKEN = "wrapping token is not valid or does not exist"


class WrapEntry(msgspec.Struct, kw_only=True):
    nonce: bytes
    sealed: bytes  # the response body, AES-GCM with the token-derived key
    creation_time: float
    ttl: int
    creation_path: str
    accessor: str
    wrapped_accessor: str = ""

    @property
    def expire_time(self) -> float:
        return self.creation_time + self.ttl


@dataclass(frozen=True, slots=True)
class WrapInfo:
    token: str
    entry: WrapEntry


@dataclass(frozen=True, slots=True)
class Unwrapped:
    body: bytes
    entry: WrapEntry


_decoder = msgspec.json.Decoder(WrapEntry)
_encoder = msgspec.json.Encoder()


class WrapStore:
    def __init__(self, storage: StorageView, hasher: KeyedHasher, clock: Clock) -> None:
        self._storage = storage
        self._hasher = hasher
        self._clock = clock

    def _id(self, token: str) -> str:
        return self._hasher.hexdigest("wrap id", token)

    def _cipher(self, token: str) -> AESGCM:
        return AESGCM(self._hasher.digest("wrap key", token, 32))

    async def wrap(
        self, body: bytes, *, ttl: int, creation_path: str, wrapped_accessor: str = ""
    ) -> WrapInfo:
        token = "s." + random_id(24)
        nonce = os.urandom(12)
        entry = WrapEntry(
            nonce=nonce,
            sealed=self._cipher(token).encrypt(nonce, body, creation_path.encode()),
            creation_time=self._clock.now(),
            ttl=ttl,
            creation_path=creation_path,
            accessor=random_id(24),
            wrapped_accessor=wrapped_accessor,
        )
        token_id = self._id(token)
        await self._storage.write(
            [
                Put("id/" + token_id, _encoder.encode(entry)),
                Put(_expiry_key(entry.expire_time, token_id), b""),
            ]
        )
        return WrapInfo(token, entry)

    async def lookup(self, token: str) -> WrapEntry | None:
        if not _plausible(token):
            return None
        raw = await self._storage.get("id/" + self._id(token))
        if raw is None:
            return None
        entry = _decoder.decode(raw)
        return entry if entry.expire_time > self._clock.now() else None

    async def unwrap(self, token: str) -> Unwrapped | None:
        """The response, once: the entry is deleted in the same atomic step that reads it."""
        if not _plausible(token):
            return None
        token_id = self._id(token)
        taken, _ = await self._storage.update("id/" + token_id, lambda raw: None)
        if taken is None:
            return None
        entry = _decoder.decode(taken)
        await self._storage.delete(_expiry_key(entry.expire_time, token_id))
        if entry.expire_time <= self._clock.now():
            return None
        body = self._cipher(token).decrypt(entry.nonce, entry.sealed, entry.creation_path.encode())
        return Unwrapped(body, entry)

    async def sweep_expired(self, batch: int = 500) -> int:
        """Delete wrapped responses whose TTL has passed, reading only the expired index."""
        now = self._clock.now()
        removed = 0
        while True:
            keys = await self._storage.list("expiry/", limit=batch)
            due = [k for k in keys if int(k.split("/", 1)[0]) <= now]
            for key in due:
                await self._storage.write(
                    [Delete("id/" + key.split("/", 1)[1]), Delete("expiry/" + key)]
                )
                removed += 1
            if len(due) < len(keys) or len(keys) < batch:
                return removed


def wrap_envelope(info: WrapInfo) -> Envelope:
    """What the client of a wrapped request gets (Vault: `data` null, an empty request id)."""
    entry = info.entry
    return Envelope(
        request_id="",
        wrap_info=WrapInfoBlock(
            token=info.token,
            accessor=entry.accessor,
            ttl=entry.ttl,
            creation_time=rfc3339(entry.creation_time),
            creation_path=entry.creation_path,
            wrapped_accessor=entry.wrapped_accessor,
        ),
    )


def _plausible(token: str) -> bool:
    return 0 < len(token) <= 512


def _expiry_key(expire_time: float, token_id: str) -> str:
    return f"expiry/{math.ceil(expire_time):0{_EXPIRY_DIGITS}d}/{token_id}"
