"""Revocation that is final: once a revoke returns, no descendant of the token is valid.

The race it closes: a child created while its parent is being revoked. Listing the children
once and deleting the parent last let a create that committed after the listing survive.

Two rules together make it final, with no extra read on a request's hot path:
1. A child is written in the same transaction that checks its parent (`TokenStore.create`
   updates the parent's key: it must exist, be live and not marked revoked), so a child exists
   only if its parent was valid when the child was committed.
2. A revoke first *marks* a token revoked (the mark makes it invalid at once), and only then
   lists its children. A create that commits before the mark is in the listing; one that
   commits after it fails rule 1. The same holds at every level of the tree, so the whole tree
   is found; then it is deleted, deepest level first.

The root of a revoke also gets a `revoking/<hash>` record, written with its mark and deleted
when the revoke is done: a process killed mid-revoke leaves the record, and the sweeper finishes
the revoke (tokens already marked are refused meanwhile; unmarked descendants of a marked
token are found then). A custom-id token is first written marked (claimed) with such a record,
then linked to its parent; a process killed in between leaves a token nobody can use, which the
sweeper removes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import msgspec

from core.framework.fields import json_encoder
from core.storage.base import Delete, Put, StorageView, WriteOp


class TokenStore(Protocol):
    """What revocation needs of core.tokens.store.TokenStore (named here, not imported: the
    store calls into this module)."""

    @property
    def storage(self) -> StorageView: ...

    def now(self) -> float: ...

    def decode(self, raw: bytes) -> Any: ...

    def encode(self, entry: Any) -> bytes: ...

    def index_ops(self, entry: Any, token_hash: str) -> list[WriteOp]: ...

    def is_live(self, entry: Any) -> bool: ...

    async def get(self, token_hash: str) -> Any: ...

    async def children(self, token_hash: str) -> list[str]: ...


QUEUE_PREFIX = "revoking/"
# A queued revoke younger than this may still be running in some process (or be a custom-id
# claim about to be linked): the sweeper leaves it alone.
RESUME_AFTER = 60.0
# How many marks or deletes one revoke has in flight at once: enough for SQLite's group commit
# to put many into one fsync, few enough not to starve other requests of the storage.
_CONCURRENCY = 64


class Queued(msgspec.Struct, kw_only=True):
    mode: str  # "tree", "orphan" or "claim"
    since: float


_queued_decoder = msgspec.json.Decoder(Queued)
_encoder = json_encoder()


def queue_put(token_hash: str, mode: str, now: float) -> Put:
    return Put(QUEUE_PREFIX + token_hash, _encoder.encode(Queued(mode=mode, since=now)))


async def mark_revoked(store: TokenStore, token_hash: str, *, queue: str = "") -> None:
    """Make a token invalid at once and unable to get children. `queue` also records the
    revoke (durably) so the sweeper can finish it if this process dies."""

    def mark(raw: bytes | None) -> bytes | None:
        if raw is None:
            return None
        entry = store.decode(raw)
        if entry.revoked:
            return raw
        entry.revoked = True
        return store.encode(entry)

    key = "id/" + token_hash
    if queue:
        also = [queue_put(token_hash, queue, store.now())]
        await store.storage.update(key, mark, also=also)
    else:
        # Below the root of a revoke the mark only has to be visible to other processes (it
        # is committed); a power cut before the revoke returns is finished by the sweeper
        # from the root's record.
        await store.storage.update(key, mark, durable=False)


async def _orphan(store: TokenStore, parent_hash: str, child: str) -> None:
    """Detach a child from its parent; only `parent` changes, atomically."""

    def detach(raw: bytes | None) -> bytes | None:
        if raw is None:
            return None
        entry = store.decode(raw)
        entry.parent = ""
        entry.parent_expire = 0.0
        return store.encode(entry)

    also = [Delete(f"parent/{parent_hash}/{child}")]
    await store.storage.update("id/" + child, detach, also=also)


async def delete_token(store: TokenStore, token_hash: str) -> None:
    """Remove a token and its indexes in one write."""
    raw = await store.storage.get("id/" + token_hash)
    ops: list[WriteOp] = [Delete("id/" + token_hash)]
    if raw is not None:
        ops.extend(Delete(op.key) for op in store.index_ops(store.decode(raw), token_hash))
    await store.storage.write(ops)


async def revoke_mount(store: TokenStore, mount_accessor: str) -> int:
    """Revoke every token a mount issued. The disable has taken the mount out of the table
    first, so its tokens (even one a running login adds now) are already refused."""
    count = 0
    while True:
        hashes = await store.storage.list(f"mount/{mount_accessor}/", limit=500)
        if not hashes:
            return count
        for token_hash in hashes:
            await revoke_tree(store, token_hash)
            await store.storage.delete(f"mount/{mount_accessor}/{token_hash}")
            count += 1


async def _in_chunks(items: Sequence[str], action: Callable[[str], Awaitable[object]]) -> None:
    for start in range(0, len(items), _CONCURRENCY):
        await asyncio.gather(*(action(item) for item in items[start : start + _CONCURRENCY]))


async def _mark_subtree(store: TokenStore, token_hash: str) -> list[list[str]]:
    """Mark every descendant of an already marked token, level by level; returns the levels
    (the first is the token itself). Each token is marked before its children are listed."""
    levels = [[token_hash]]
    while True:
        listings = await asyncio.gather(*(store.children(h) for h in levels[-1]))
        below = [child for listing in listings for child in listing]
        if not below:
            return levels
        await _in_chunks(below, lambda h: mark_revoked(store, h))
        levels.append(below)


async def revoke_tree(store: TokenStore, token_hash: str) -> None:
    """Revoke a token and every descendant; children are deleted before their parents."""
    await mark_revoked(store, token_hash, queue="tree")
    levels = await _mark_subtree(store, token_hash)
    for level in reversed(levels):
        await _in_chunks(level, lambda h: delete_token(store, h))
    await store.storage.delete(QUEUE_PREFIX + token_hash)


async def revoke_orphan(store: TokenStore, token_hash: str) -> None:
    """Revoke one token; its children live on as orphans. The mark comes first, so no child
    can be added after the listing (it would be left pointing at a deleted parent)."""
    await mark_revoked(store, token_hash, queue="orphan")
    await _in_chunks(await store.children(token_hash), lambda c: _orphan(store, token_hash, c))
    await delete_token(store, token_hash)
    await store.storage.delete(QUEUE_PREFIX + token_hash)


async def resume(store: TokenStore, now: float) -> int:
    """Finish revokes (and remove custom-id claims) that a killed process left half done."""
    done = 0
    for token_hash in await store.storage.list(QUEUE_PREFIX):
        raw = await store.storage.get(QUEUE_PREFIX + token_hash)
        if raw is None:
            continue
        try:
            queued = _queued_decoder.decode(raw)
        except msgspec.DecodeError:
            queued = Queued(mode="tree", since=0.0)
        if now - queued.since < RESUME_AFTER:
            continue
        if queued.mode == "orphan":
            await revoke_orphan(store, token_hash)
        else:
            await revoke_tree(store, token_hash)
        done += 1
    return done


def unqueue(token_hash: str) -> WriteOp:
    return Delete(QUEUE_PREFIX + token_hash)


async def sweep_expired(store: TokenStore, batch: int) -> int:
    """Revoke tokens whose expiry has passed, reading only the expired part of the index, then
    finish queued revokes. The index is a hint: a key may be stale (a renewal moved the expiry,
    or the token is already gone), so the entry itself decides. Returns how many were revoked."""
    now = store.now()
    swept = 0
    while True:
        keys = await store.storage.list("expiry/", limit=batch)
        due = [k for k in keys if int(k.split("/", 1)[0]) <= now]
        for key in due:
            token_hash = key.split("/", 1)[1]
            entry = await store.get(token_hash)
            if entry is not None and not store.is_live(entry):
                await revoke_tree(store, token_hash)
                swept += 1
            await store.storage.delete("expiry/" + key)
        if len(due) < len(keys) or len(keys) < batch:
            return swept + await resume(store, now)
