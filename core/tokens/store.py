"""The token store: issue, validate, renew and revoke tokens.

Only a keyed hash (BLAKE2b with a server key) of a token is ever stored, so a copy of the
database does not yield usable tokens without the key. Keys under the store's storage view:

    id/<hash>                      the TokenEntry
    accessor/<accessor>            -> <hash>
    parent/<parent hash>/<hash>    child index, for revoking a tree
    expiry/<epoch, 12 digits>/<hash>   time-ordered index, so the sweeper reads only what expired
    mount/<mount accessor>/<hash>  tokens issued by an auth mount, revoked when it is disabled
    group-tokens/<group>/<hash>    tokens of a token group (below), revoked with the group
    group/<group>                  the group's live bound CIDRs (JSON list)

A token group ties tokens to a grant that outlives each of them (an Infisical identity's auth
method, say): the group's CIDRs are read on every use, so narrowing them refuses tokens already
issued at once, and dropping the group revokes its tokens. Group names are `/`-separated, so a
prefix (`<identity>/`) names every group under it.
    revoking/<hash>                a revoke in progress (core/tokens/revocation.py)

Every write that creates or changes a token is one atomic storage write, so a kill -9 never
leaves a token without its indexes.
"""

from __future__ import annotations

import hashlib
import math
import os
import string
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import msgspec

from core.framework.errors import BadRequest, PermissionDenied
from core.framework.fields import json_encoder
from core.framework.network import ip_allowed
from core.framework.path import Clock, LoginAuth
from core.storage.base import Delete, Put, StorageView, WriteOp
from core.tables import RequestTables
from core.tokens import revocation

_ALPHABET = string.ascii_letters + string.digits
# Longer presented tokens are refused without a storage read.
MAX_TOKEN_LENGTH = 512
_EXPIRY_DIGITS = 12


class TokenEntry(msgspec.Struct, kw_only=True, omit_defaults=True):
    accessor: str
    policies: list[str]
    display_name: str
    path: str
    creation_time: float
    creation_ttl: int = 0
    expire_time: float = 0.0  # 0 = never expires (the root token)
    explicit_max_ttl: int = 0
    max_ttl: int = 0  # the issuing role's max TTL, applied again at each renewal
    period: int = 0
    num_uses: int = 0  # 0 = unlimited; -1 = the last use is in progress
    bound_cidrs: list[str] = msgspec.field(default_factory=list)
    meta: dict[str, str] | None = None
    renewable: bool = True
    type: str = "service"
    parent: str = ""  # parent's hash; "" = orphan
    # The parent's expiry when this token was made (0: it had none). Only once this moment has
    # passed is the parent read again, so children die with an expired parent at once, at no
    # cost to requests before then (the sweeper revokes them for good).
    parent_expire: float = 0.0
    role: str = ""
    mount_accessor: str = ""  # the auth mount that issued it ("" for auth/token)
    login: LoginAuth | None = None  # what the plugin returned, for its renew hook
    last_renewal_time: float = 0.0  # 0 = never renewed
    group: str = ""  # the token group (see the module docstring); "" = none
    # Set first thing by a revoke (before its children are listed) and by a custom-id claim
    # not yet linked to its parent: such a token is refused, and cannot get children.
    revoked: bool = False

    @property
    def is_root(self) -> bool:
        return "root" in self.policies

    @property
    def orphan(self) -> bool:
        return not self.parent


@dataclass(slots=True)
class Authenticated:
    """A validated token, as the pipeline sees it."""

    hash: str
    entry: TokenEntry
    token: str

    @property
    def last_use(self) -> bool:
        return self.entry.num_uses == -1


class IpNotAllowed(PermissionDenied):
    """The token's live group CIDRs do not include the client: a plain 403 on Vault's face,
    Infisical's IP message on its own."""


_entry_decoder = msgspec.json.Decoder(TokenEntry)
_cidr_decoder = msgspec.json.Decoder(list[str])
_encoder = json_encoder()


# The largest multiple of the alphabet's size that fits in a byte: bytes at or above it are
# skipped, so every character is equally likely (no modulo bias).
_UNBIASED_LIMIT = 256 - 256 % len(_ALPHABET)


def random_id(length: int = 24) -> str:
    """`length` characters from the OS's CSPRNG, uniform over [A-Za-z0-9].

    One `os.urandom` call per id (rarely two) instead of one `secrets.choice` per character,
    which cost ~17 us per id: two ids per login.
    """
    chars: list[str] = []
    while len(chars) < length:
        chars.extend(
            _ALPHABET[b % len(_ALPHABET)] for b in os.urandom(length + 8) if b < _UNBIASED_LIMIT
        )
    return "".join(chars[:length])


# Whether the auth mount with this accessor still exists (the Router's in-process table; the
# mount table as read with `tables`, or read now without them).
IssuerCheck = Callable[[str, RequestTables | None], Awaitable[bool]]


async def _any_issuer(accessor: str, tables: RequestTables | None = None) -> bool:
    return True


class TokenStore:
    def __init__(
        self,
        storage: StorageView,
        hmac_key: bytes,
        clock: Clock,
        *,
        issuer_alive: IssuerCheck = _any_issuer,
    ) -> None:
        self._storage = storage
        self._issuer_alive = issuer_alive
        # BLAKE2b takes keys up to 64 bytes; a longer configured key is digested to fit
        # rather than cut, so all of it counts.
        self._key = hmac_key if len(hmac_key) <= 64 else hashlib.blake2b(hmac_key).digest()
        self._clock = clock

    # -- hashing and reading -----------------------------------------------------------------

    def hash(self, token: str) -> str:
        # Keyed BLAKE2b is a MAC in its own right (no HMAC construction needed) and cheaper
        # per call than HMAC-SHA256; this runs on every request.
        return hashlib.blake2b(token.encode("utf-8"), key=self._key, digest_size=32).hexdigest()

    @staticmethod
    def entry_key(token_hash: str) -> str:
        """The key of a token's entry, under this store's storage view."""
        return "id/" + token_hash

    async def get(self, token_hash: str) -> TokenEntry | None:
        raw = await self._storage.get("id/" + token_hash)
        return None if raw is None else _entry_decoder.decode(raw)

    async def hash_for_accessor(self, accessor: str) -> str | None:
        if not accessor or "/" in accessor:
            return None
        raw = await self._storage.get("accessor/" + accessor)
        return None if raw is None else raw.decode()

    async def accessors(self) -> list[str]:
        return await self._storage.list("accessor/")

    @property
    def storage(self) -> StorageView:
        return self._storage

    def is_live(self, entry: TokenEntry) -> bool:
        if entry.revoked:
            return False
        return not entry.expire_time or entry.expire_time > self._clock.now()

    async def valid_entry(self, token_hash: str) -> TokenEntry | None:
        """The entry of a token someone names (lookup, renew, capabilities by token or
        accessor) if it is valid now: stored, live, and its issuing mount still exists."""
        entry = await self.get(token_hash)
        if entry is None or not self.is_live(entry):
            return None
        if entry.mount_accessor and not await self._issuer_alive(entry.mount_accessor, None):
            return None
        return entry

    # -- the per-request check ---------------------------------------------------------------

    async def authenticate(
        self, token: str, client_ip: str | None, tables: RequestTables | None = None
    ) -> Authenticated:
        """Validate a presented token; spends one use of a use-limited token (atomically).

        `tables`: what the request read at its start (core/tables.py); the token's entry and
        the mount table are taken from there when they were read for this token.
        Every failure is the same plain 403 so a client learns nothing about why.
        """
        token_hash, entry = await self._valid(token, client_ip, tables)
        if entry.num_uses > 0:
            entry = await self._spend_use(token_hash)
        return Authenticated(token_hash, entry, token)

    async def check(self, token: str, client_ip: str | None) -> Authenticated:
        """Validate a presented token without spending a use; raises PermissionDenied."""
        token_hash, entry = await self._valid(token, client_ip)
        return Authenticated(token_hash, entry, token)

    async def peek(
        self, token: str, client_ip: str | None, tables: RequestTables | None = None
    ) -> Authenticated | None:
        """The token if it is valid, without spending a use; None otherwise (for paths that
        need no token but may tailor their answer to one). `tables`: as `authenticate`."""
        try:
            token_hash, entry = await self._valid(token, client_ip, tables)
        except PermissionDenied:
            return None
        return Authenticated(token_hash, entry, token)

    async def _valid(
        self, token: str, client_ip: str | None, tables: RequestTables | None = None
    ) -> tuple[str, TokenEntry]:
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise PermissionDenied()
        entry: TokenEntry | None
        if tables is not None and tables.token_hash and tables.token == token:
            # Read with the request's tables, in the same statement (one round trip).
            token_hash = tables.token_hash
            raw = tables.token_entry
            entry = None if raw is None else _entry_decoder.decode(raw)
        else:
            tables = None  # read for another token: the mount table is read afresh too
            token_hash = self.hash(token)
            entry = await self.get(token_hash)
        if entry is None:
            raise PermissionDenied(log_detail="unknown token")
        if not self.is_live(entry):
            raise PermissionDenied(log_detail="expired token")
        if entry.bound_cidrs and not ip_allowed(client_ip, entry.bound_cidrs):
            raise PermissionDenied(log_detail=f"token not allowed from {client_ip}")
        if entry.num_uses == -1:
            raise PermissionDenied(log_detail="token use limit reached")
        if entry.group:
            await self._check_group(entry.group, client_ip)
        if entry.parent_expire and entry.parent_expire <= self._clock.now():
            parent = await self.get(entry.parent)
            if parent is None or not self.is_live(parent):
                raise PermissionDenied(log_detail="parent token expired")
        # A token an auth mount issued dies with the mount, at once: its disable removes the
        # mount from the table first, and a login that was still running when the mount's
        # tokens were listed cannot leave a usable token behind. Cost: a dict lookup in the
        # mount table read with the token (one point read when the entry was not read with the
        # request's tables); tokens from auth/token (no mount accessor) skip it. Children need
        # no read here at all: see core/tokens/revocation.py for why revoking a parent is final
        # without one.
        if entry.mount_accessor and not await self._issuer_alive(entry.mount_accessor, tables):
            raise PermissionDenied(log_detail="the auth mount that issued the token is gone")
        return token_hash, entry

    async def _check_group(self, group: str, client_ip: str | None) -> None:
        raw = await self._storage.get("group/" + group)
        if raw is None:
            raise PermissionDenied(log_detail=f"token group {group} no longer exists")
        cidrs = _cidr_decoder.decode(raw)
        if not ip_allowed(client_ip, cidrs):
            raise IpNotAllowed(log_detail=f"token not allowed from {client_ip} by its group")

    async def set_group(self, group: str, cidrs: list[str]) -> None:
        """Create a token group or change its CIDRs (effective for its tokens at once)."""
        await self._storage.put("group/" + group, _encoder.encode(list(cidrs)))

    async def drop_groups(self, prefix: str) -> int:
        """Drop the group `prefix` (or, ending in `/`, every group under it) and revoke its
        tokens. The group records go first, so the tokens are refused before revocation ends."""
        if prefix.endswith("/"):
            groups = [prefix + name for name in await self._storage.list("group/" + prefix)]
        else:
            groups = [prefix]
        if groups:
            await self._storage.write([Delete("group/" + g) for g in groups])
        count = 0
        for group in groups:
            while True:
                hashes = await self._storage.list(f"group-tokens/{group}/", limit=500)
                if not hashes:
                    break
                for token_hash in hashes:
                    await self.revoke_tree(token_hash)
                    await self._storage.delete(f"group-tokens/{group}/{token_hash}")
                    count += 1
        return count

    async def _spend_use(self, token_hash: str) -> TokenEntry:
        def spend(raw: bytes | None) -> bytes | None:
            if raw is None:
                raise PermissionDenied(log_detail="token revoked during use")
            current = _entry_decoder.decode(raw)
            if current.num_uses == -1:
                raise PermissionDenied(log_detail="token use limit reached")
            if current.num_uses > 0:
                # The last use marks the token -1: no other request can use it, and the
                # pipeline revokes it once this request is done.
                current.num_uses = -1 if current.num_uses == 1 else current.num_uses - 1
            return _encoder.encode(current)

        _, new = await self._storage.update("id/" + token_hash, spend)
        assert new is not None
        return _entry_decoder.decode(new)

    # -- issuing -----------------------------------------------------------------------------

    async def create(self, entry: TokenEntry, *, token_id: str | None = None) -> str:
        """Store a new token and its indexes; returns the token (shown to the client once).

        A child is written in one transaction with a check of its parent (see revocation.py),
        and a custom `token_id` is claimed atomically: of concurrent creates with one id,
        exactly one succeeds; the others get a 400.
        """
        custom = token_id is not None
        token_id, ops = self.creation(entry, token_id=token_id)
        token_hash = self.hash(token_id)
        if custom:
            await self._claim(token_hash, entry, ops[1:])
            if not entry.parent:
                return token_id
            ops.append(revocation.unqueue(token_hash))
        if entry.parent:
            try:
                await self._storage.update("id/" + entry.parent, self._check_parent, also=ops)
            except PermissionDenied:
                if custom:
                    await self._storage.write([Delete("id/" + token_hash), ops[-1]])
                raise
        else:
            await self._storage.write(ops)
        return token_id

    def creation(
        self, entry: TokenEntry, *, token_id: str | None = None
    ) -> tuple[str, list[WriteOp]]:
        """The token and the writes (keys under this store's view) of a new token with a
        generated id, for a caller that commits an orphan together with a write of its own
        (the root token and the first-start marker)."""
        if token_id is None:
            prefix = "b." if entry.type == "batch" else "s."
            token_id = prefix + random_id(24)
        token_hash = self.hash(token_id)
        ops: list[WriteOp] = [Put("id/" + token_hash, _encoder.encode(entry))]
        if entry.accessor:
            ops.append(Put("accessor/" + entry.accessor, token_hash.encode()))
        ops.extend(self._index_ops(entry, token_hash))
        return token_id, ops

    async def _claim(self, token_hash: str, entry: TokenEntry, indexes: list[WriteOp]) -> None:
        """Take a custom id: fails if the id exists. An orphan is written whole with its
        `indexes`; a child is written marked revoked (unusable) with a cleanup record, until
        it is linked to its parent."""
        if entry.parent:
            stored = msgspec.structs.replace(entry, revoked=True)
            also: list[WriteOp] = [revocation.queue_put(token_hash, "claim", self._clock.now())]
        else:
            stored, also = entry, indexes

        def claim(raw: bytes | None) -> bytes | None:
            if raw is not None:
                raise BadRequest("cannot create a token with a duplicate ID")
            return _encoder.encode(stored)

        await self._storage.update("id/" + token_hash, claim, also=also)

    def _check_parent(self, raw: bytes | None) -> bytes | None:
        """The parent must exist, be live and not be under revocation when a child is added
        (it is rewritten unchanged: the point is the transaction, not the write)."""
        if raw is None:
            raise PermissionDenied(log_detail="parent token revoked during create")
        if not self.is_live(_entry_decoder.decode(raw)):
            raise PermissionDenied(log_detail="parent token revoked or expired during create")
        return raw

    def _index_ops(self, entry: TokenEntry, token_hash: str) -> list[WriteOp]:
        ops: list[WriteOp] = []
        if entry.parent:
            ops.append(Put(f"parent/{entry.parent}/{token_hash}", b""))
        if entry.expire_time:
            ops.append(Put(_expiry_key(entry.expire_time, token_hash), b""))
        if entry.mount_accessor:
            ops.append(Put(f"mount/{entry.mount_accessor}/{token_hash}", b""))
        if entry.group:
            ops.append(Put(f"group-tokens/{entry.group}/{token_hash}", b""))
        return ops

    async def set_expiry(
        self, token_hash: str, entry: TokenEntry, expire_time: float
    ) -> TokenEntry | None:
        """Renewal: move a token's expiry and keep the role's current limits (`entry.max_ttl`,
        `entry.period`). Returns the stored entry, or None when the token is gone.

        Only those fields change, in one atomic read-modify-write, so a use that a concurrent
        request spent is not written back. The new expiry index key goes in first and the old
        one comes out last: a crash in between leaves a stale key, which the sweeper skips.
        """
        new_key = _expiry_key(expire_time, token_hash)
        await self._storage.put(new_key, b"")
        previous: list[float] = []

        def renew(raw: bytes | None) -> bytes | None:
            if raw is None:
                return None
            current = _entry_decoder.decode(raw)
            previous.append(current.expire_time)
            current.expire_time = expire_time
            current.last_renewal_time = self._clock.now()
            current.max_ttl, current.period = entry.max_ttl, entry.period
            return _encoder.encode(current)

        _, stored = await self._storage.update("id/" + token_hash, renew)
        if stored is None:
            await self._storage.delete(new_key)
            return None
        if previous and previous[0] and _expiry_key(previous[0], token_hash) != new_key:
            await self._storage.delete(_expiry_key(previous[0], token_hash))
        return _entry_decoder.decode(stored)

    # -- revoking (the order of steps is in core/tokens/revocation.py) ------------------------

    async def revoke_tree(self, token_hash: str) -> None:
        """Revoke a token and every descendant, finally (see revocation.py)."""
        await revocation.revoke_tree(self, token_hash)

    async def revoke_orphan(self, token_hash: str) -> None:
        """Revoke one token; its children live on as orphans."""
        await revocation.revoke_orphan(self, token_hash)

    async def revoke_mount(self, mount_accessor: str) -> int:
        """Revoke every token a mount issued (the mount is being disabled)."""
        return await revocation.revoke_mount(self, mount_accessor)

    async def children(self, token_hash: str) -> list[str]:
        return await self._storage.list(f"parent/{token_hash}/")

    def now(self) -> float:
        return self._clock.now()

    def decode(self, raw: bytes) -> TokenEntry:
        return _entry_decoder.decode(raw)

    def encode(self, entry: TokenEntry) -> bytes:
        return _encoder.encode(entry)

    def index_ops(self, entry: TokenEntry, token_hash: str) -> list[WriteOp]:
        """The writes of a token's entry indexes (accessor, parent, expiry, mount)."""
        ops = self._index_ops(entry, token_hash)
        if entry.accessor:
            ops.append(Put("accessor/" + entry.accessor, token_hash.encode()))
        return ops

    async def sweep_expired(self, batch: int = 500) -> int:
        """Revoke expired tokens, and finish revokes a killed process left half done."""
        return await revocation.sweep_expired(self, batch)


def _expiry_key(expire_time: float, token_hash: str) -> str:
    # Rounded up, so "key time <= now" always means the token really has expired.
    return f"expiry/{math.ceil(expire_time):0{_EXPIRY_DIGITS}d}/{token_hash}"
