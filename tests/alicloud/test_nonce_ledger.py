"""NonceLedger over the real MemoryStorage: replay refusal, expiry, and an index-only sweep."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from core.framework.errors import BadRequest
from core.storage.base import StorageView, UpdateFn, WriteOp
from core.storage.memory import MemoryStorage
from plugins.alicloud.sts import NonceLedger

T0 = datetime(2025, 1, 15, 8, 30, tzinfo=UTC)
WINDOW = 900


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class CountingStorage(MemoryStorage):
    """Records which keys `update` touched, to prove a sweep never visits live entries."""

    def __init__(self) -> None:
        super().__init__()
        self.updated: list[str] = []
        self.durable: list[bool] = []

    async def update(
        self,
        key: str,
        fn: UpdateFn,
        *,
        also: Sequence[WriteOp] = (),
        durable: bool = True,
        likely_absent: bool = False,
    ) -> tuple[bytes | None, bytes | None]:
        self.updated.append(key)
        self.durable.append(durable)
        return await super().update(
            key, fn, also=also, durable=durable, likely_absent=likely_absent
        )


async def test_a_nonce_is_refused_the_second_time() -> None:
    ledger = NonceLedger(MemoryStorage())
    await ledger.claim("n1", T0, T0, WINDOW)
    await ledger.claim("n2", T0, T0, WINDOW)
    with pytest.raises(BadRequest) as caught:
        await ledger.claim("n1", T0, at(10), WINDOW)
    assert caught.value.status == 400
    assert caught.value.message == "SignatureNonce was already used"


async def test_a_claim_is_committed_without_its_own_flush() -> None:
    # The login's token write flushes it (nonce.py docstring); sweeps stay durable.
    storage = CountingStorage()
    await NonceLedger(storage).claim("n1", T0, T0, WINDOW)
    assert storage.durable == [False]


async def test_the_entry_outlives_the_timestamp_window() -> None:
    ledger = NonceLedger(MemoryStorage())
    future = at(600)  # a request stamped 10 minutes ahead stays acceptable until +1500 s
    await ledger.claim("n", future, T0, WINDOW)
    with pytest.raises(BadRequest):
        await ledger.claim("n", future, at(1499), WINDOW)
    await ledger.claim("n", future, at(1500), WINDOW)  # expired: usable again


async def test_keys_hold_a_hash_not_the_nonce() -> None:
    storage = MemoryStorage()
    await NonceLedger(storage).claim("my-raw-nonce", T0, T0, WINDOW)
    keys = await storage.list("")
    digest = hashlib.sha256(b"my-raw-nonce").hexdigest()
    expires = int(T0.timestamp()) + WINDOW
    assert sorted(keys) == [f"exp/{expires:012d}/{digest}", f"seen/{digest}"]
    assert all("my-raw-nonce" not in key for key in keys)


async def test_concurrent_claims_of_one_nonce_let_exactly_one_through() -> None:
    ledger = NonceLedger(MemoryStorage())
    results = await asyncio.gather(
        *(ledger.claim("same", T0, T0, WINDOW) for _ in range(10)), return_exceptions=True
    )
    assert sum(r is None for r in results) == 1
    assert all(isinstance(r, BadRequest) for r in results if r is not None)


async def test_sweep_deletes_only_expired_entries_and_never_visits_live_ones() -> None:
    storage = CountingStorage()
    ledger = NonceLedger(storage)
    await ledger.claim("old-1", T0, T0, 60)
    await ledger.claim("old-2", T0, at(1), 60)
    for i in range(200):
        await ledger.claim(f"live-{i}", T0, T0, WINDOW)
    storage.updated.clear()

    removed = await ledger.sweep(at(120), batch=7)

    assert removed == 2
    assert len(storage.updated) == 2  # one conditional delete per expired index entry
    keys = await storage.list("seen/")
    assert len(keys) == 200
    assert len(await storage.list("exp/")) == 200
    await ledger.claim("old-1", T0, at(120), WINDOW)  # forgotten, so usable again
    with pytest.raises(BadRequest):
        await ledger.claim("live-5", T0, at(120), WINDOW)


async def test_sweep_keeps_a_nonce_claimed_again_after_its_first_expiry() -> None:
    storage = MemoryStorage()
    ledger = NonceLedger(storage)
    await ledger.claim("n", T0, T0, 60)  # index at T0+60
    await ledger.claim("n", at(100), at(100), 60)  # expired, claimed again until T0+160
    assert await ledger.sweep(at(120)) == 1  # the stale index entry goes...
    with pytest.raises(BadRequest):  # ...but the live claim stays
        await ledger.claim("n", at(120), at(120), 60)
    # Only the live claim's index: a refused claim writes nothing (entry and index are one
    # transaction).
    assert await ledger.sweep(at(10_000)) == 1
    assert await storage.list("") == []


async def test_sweep_pages_through_many_expired_entries() -> None:
    storage = MemoryStorage()
    ledger = NonceLedger(storage)
    for i in range(25):
        await ledger.claim(f"n{i}", T0, at(i), 10)
    assert await ledger.sweep(at(1000), batch=4) == 25
    assert await storage.list("") == []
    assert await ledger.sweep(at(1000)) == 0


async def test_works_in_a_storage_view() -> None:
    inner = MemoryStorage()
    ledger = NonceLedger(StorageView(inner, "auth/alicloud/").sub("nonce/"))
    await ledger.claim("n", T0, T0, WINDOW)
    assert all(k.startswith("auth/alicloud/nonce/") for k in await inner.list(""))
    with pytest.raises(BadRequest):
        await ledger.claim("n", T0, T0, WINDOW)
