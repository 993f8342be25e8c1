"""Keyed hashes for plugins that must keep secrets they can recognise but never reveal.

A plugin gets a `KeyedHasher` in its BackendContext. Its key is derived from the server's own
key (`token.hmac_key`, or the generated one) and the mount's uuid, so two mounts never share
hashes, every server process sharing the database derives the same key, and a copy of the
database alone does not let anyone test guesses when the key is configured outside it.
"""

from __future__ import annotations

import hashlib
import hmac


class KeyedHasher:
    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if not key:
            raise ValueError("a keyed hasher needs a non-empty key")
        # BLAKE2b takes keys up to 64 bytes; a longer one is digested to fit.
        self._key = key if len(key) <= 64 else hashlib.blake2b(key).digest()

    def derive(self, label: str) -> KeyedHasher:
        """A hasher with an independent key (e.g. one per mount)."""
        return KeyedHasher(hashlib.blake2b(label.encode(), key=self._key).digest())

    def digest(self, purpose: str, value: str, size: int = 32) -> bytes:
        """Keyed BLAKE2b of `value`; `purpose` (up to 16 bytes) separates uses of one key."""
        return hashlib.blake2b(
            value.encode("utf-8"), key=self._key, person=purpose.encode()[:16], digest_size=size
        ).digest()

    def hexdigest(self, purpose: str, value: str, size: int = 32) -> str:
        return self.digest(purpose, value, size).hex()


def same_digest(a: str, b: str) -> bool:
    """Constant-time equality of two hex digests, so a comparison never tells how many
    characters matched."""
    return hmac.compare_digest(a.encode(), b.encode())
