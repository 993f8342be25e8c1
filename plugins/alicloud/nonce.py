"""A ledger of used SignatureNonces, so a captured signed request cannot log in twice.

STS refuses a reused nonce too, but only for its own 31 minutes and only when the request
reaches it; the ledger refuses the replay before any outbound request, and also covers a
signed URL replayed against several wardgate servers that share storage.

Layout, in the storage the ledger is given (give it a dedicated view, e.g. `sub("nonce/")`):
- `seen/<sha256 of nonce>` -> the expiry as decimal epoch seconds. Nonces are not secret, but
  hashing bounds the key length whatever the client sent.
- `exp/<12-digit epoch>/<sha256>` -> b"": an index in expiry order, so `sweep` reads only
  expired entries and stops at the first live one instead of scanning every nonce.

A claim is committed before the STS call (every process sees it at once, and it survives a
killed process) but without an fsync of its own (`durable=False`): a login's token write, the
next durable commit, flushes it to disk with the token. A power cut can therefore only lose a
nonce whose login issued no token, and a replay of that request can still obtain at most the
one token the original never got. That saves a disk flush on every login.
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime

from core.framework.errors import BadRequest
from core.framework.storage import Put, Storage

_SEEN = "seen/"
_EXP = "exp/"


class _AlreadyUsed(Exception):
    pass


class NonceReused(BadRequest):
    """The SignatureNonce was used by an earlier login within the window (a replay)."""


def _expiry(value: bytes) -> int:
    try:
        return int(value)
    except ValueError:
        return 0  # unreadable: treat as expired rather than block a nonce forever


class NonceLedger:
    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    async def claim(
        self, nonce: str, timestamp: datetime, now: datetime, window_seconds: int
    ) -> None:
        """Record `nonce`, or raise BadRequest if it is recorded and not yet expired.

        The entry must outlive every moment at which the same signed request would still
        pass the timestamp check: until `max(timestamp, now) + window_seconds`.
        """
        digest = hashlib.sha256(nonce.encode()).hexdigest()
        now_s = math.floor(now.timestamp())
        expires = math.ceil(max(now, timestamp).timestamp()) + window_seconds

        def take(old: bytes | None) -> bytes:
            if old is not None and _expiry(old) > now_s:
                raise _AlreadyUsed
            return str(expires).encode()

        # The entry and its expiry index in one transaction: one commit per login, and never
        # a `seen` entry that no sweep would find.
        try:
            await self._storage.update(
                _SEEN + digest,
                take,
                also=[Put(f"{_EXP}{expires:012d}/{digest}", b"")],
                durable=False,  # see the module docstring
                likely_absent=True,  # a fresh nonce: one statement (`take(None)` is pure)
            )
        except _AlreadyUsed:
            raise NonceReused("SignatureNonce was already used") from None

    async def sweep(self, now: datetime, *, batch: int = 500) -> int:
        """Delete entries that expired by `now`; returns how many index entries were removed."""
        now_s = math.floor(now.timestamp())

        def drop_if_expired(old: bytes | None) -> bytes | None:
            # The nonce may have been claimed again since this index entry was written; only
            # an entry that has itself expired goes. Doing this inside `update` keeps a
            # concurrent claim from being deleted between our read and our delete.
            if old is None or _expiry(old) <= now_s:
                return None
            return old

        removed = 0
        after = ""
        while True:
            keys = await self._storage.list(_EXP, after=after, limit=batch)
            if not keys:
                return removed
            for key in keys:
                stamp, _, digest = key.partition("/")
                if int(stamp) > now_s:
                    return removed  # time-ordered: everything after this is live
                await self._storage.update(_SEEN + digest, drop_if_expired)
                await self._storage.delete(_EXP + key)
                removed += 1
            after = keys[-1]
