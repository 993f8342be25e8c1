"""SQLite group commit: transactions waiting together share one commit, yet each stays its own.

To make a group form without relying on timing, another connection (standing in for another
server process) holds SQLite's write lock: the writer's first transaction waits for it, and
everything submitted meanwhile queues up and runs as the next group once the lock is free.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

import pytest

from core.storage import Put
from core.storage.sqlite import SQLiteStorage

PAGE_FRAME = 24  # + page size: one WAL frame


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[tuple[SQLiteStorage, Path]]:
    path = tmp_path / "group.sqlite"
    storage = await SQLiteStorage.open(path)
    yield storage, path
    await storage.close()


class Boom(Exception):
    pass


def wal_frames(path: Path) -> int:
    """WAL frames written so far: each commit appends at least one."""
    raw = sqlite3.connect(path)
    try:
        (page_size,) = raw.execute("PRAGMA page_size").fetchone()
    finally:
        raw.close()
    wal = path.with_name(path.name + "-wal")
    size = wal.stat().st_size if wal.exists() else 0
    return max(0, size - 32) // (page_size + PAGE_FRAME)


async def while_locked(path: Path, first: Awaitable[Any], rest: list[Awaitable[Any]]) -> list[Any]:
    """Run `first` while another connection holds the write lock, queue `rest` behind it,
    release the lock, and return every outcome (results or exceptions) in order."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        head = asyncio.ensure_future(first)
        await asyncio.sleep(0.05)  # the writer has taken `first` and waits for the lock
        tail = [asyncio.ensure_future(aw) for aw in rest]
        await asyncio.sleep(0.05)  # all of them are queued
        assert not head.done()
    finally:
        other.execute("ROLLBACK")
        other.close()
    return await asyncio.gather(head, *tail, return_exceptions=True)


async def test_concurrent_writes_share_one_commit(db: tuple[SQLiteStorage, Path]) -> None:
    storage, path = db
    await storage.put("warm", b"x")
    before = wal_frames(path)
    outcomes = await while_locked(
        path, storage.put("k0", b"0"), [storage.put(f"k{i}", str(i).encode()) for i in range(1, 60)]
    )
    assert outcomes == [None] * 60
    # 60 separate commits would append at least 60 frames; two groups append a handful.
    assert wal_frames(path) - before < 10
    for i in range(60):
        assert await storage.get(f"k{i}") == str(i).encode()


async def test_updates_in_one_group_see_each_other(db: tuple[SQLiteStorage, Path]) -> None:
    storage, path = db

    def incr(old: bytes | None) -> bytes:
        return str(int(old or b"0") + 1).encode()

    outcomes = await while_locked(
        path, storage.update("n", incr), [storage.update("n", incr) for _ in range(40)]
    )
    assert [int(new) for _old, new in outcomes] == list(range(1, 42))
    assert await storage.get("n") == b"41"


async def test_a_failing_transaction_is_rolled_back_alone(db: tuple[SQLiteStorage, Path]) -> None:
    storage, path = db
    await storage.put("b", b"before")

    def fail_after_reading(old: bytes | None) -> bytes:
        assert old == b"before"
        raise Boom

    outcomes = await while_locked(
        path,
        storage.put("first", b"1"),
        [
            storage.write([Put("a", b"A"), Put("a2", b"A2")]),
            storage.update("b", fail_after_reading, also=[Put("b-index", b"i")]),
            storage.update("c", lambda old: b"C"),
        ],
    )
    assert outcomes[:2] == [None, None]
    assert isinstance(outcomes[2], Boom)
    assert outcomes[3] == (None, b"C")
    assert await storage.get("a") == b"A" and await storage.get("a2") == b"A2"
    assert await storage.get("b") == b"before" and await storage.get("b-index") is None
    assert await storage.get("c") == b"C"
    assert not storage._w.in_transaction


async def test_a_bad_value_in_a_group_fails_only_its_caller(db: tuple[SQLiteStorage, Path]) -> None:
    storage, path = db
    outcomes = await while_locked(
        path,
        storage.put("first", b"1"),
        [
            storage.update("x", lambda old: "not bytes"),  # type: ignore[arg-type, return-value]
            storage.update("y", lambda old: b"Y"),
        ],
    )
    assert isinstance(outcomes[1], TypeError)
    assert outcomes[2] == (None, b"Y")
    assert await storage.get("x") is None


async def test_non_durable_update_is_visible_and_restores_full_sync(
    db: tuple[SQLiteStorage, Path],
) -> None:
    storage, path = db
    modes: list[int] = []

    def recording(value: bytes) -> Any:
        def fn(old: bytes | None) -> bytes:
            # Runs on the writer's connection, inside the transaction about to commit.
            modes.append(storage._w._db.execute("PRAGMA synchronous").fetchone()[0])
            return value

        return fn

    old, new = await storage.update("nonce", recording(b"seen"), durable=False)
    assert (old, new) == (None, b"seen")
    assert modes == [1]  # committed without its own fsync (NORMAL)
    # Committed: another connection (another process) sees it at once.
    raw = sqlite3.connect(path)
    assert raw.execute("SELECT value FROM kv WHERE key = 'nonce'").fetchone() == (b"seen",)
    raw.close()
    # The relaxed commit does not leak into later writes: they are fsynced again.
    assert await storage._w.setting("synchronous") == 2
    await storage.update("durable", recording(b"d"))
    assert modes == [1, 2]
    # A group mixing durable and non-durable writes commits durably; all land.
    outcomes = await while_locked(
        path,
        storage.put("first", b"1"),
        [storage.update("n2", recording(b"2"), durable=False), storage.put("t", b"token")],
    )
    assert outcomes == [None, (None, b"2"), None]
    assert modes == [1, 2, 2]
    assert await storage._w.setting("synchronous") == 2


async def test_a_cancelled_caller_does_not_stop_its_group(db: tuple[SQLiteStorage, Path]) -> None:
    storage, path = db
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        head = asyncio.ensure_future(storage.put("first", b"1"))
        await asyncio.sleep(0.05)
        cancelled = asyncio.ensure_future(storage.put("cancelled", b"c"))
        kept = asyncio.ensure_future(storage.put("kept", b"k"))
        await asyncio.sleep(0.05)
        cancelled.cancel()
    finally:
        other.execute("ROLLBACK")
        other.close()
    await asyncio.gather(head, kept)
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    # The cancelled caller's transaction still ran (it was already queued): all or nothing,
    # never half; here it committed with its group.
    assert await storage.get("kept") == b"k"
    assert await storage.get("cancelled") == b"c"
    assert not storage._w.in_transaction


async def wal_copied_back(path: Path, interval: float, rounds: int) -> bool:
    """Write ~1,500 pages (below the writer's own checkpoint threshold) with the given
    background interval; whether the database file grew (the WAL was copied back) while the
    storage stayed open. (Closing checkpoints too, so only growth before close counts.)"""
    storage = await SQLiteStorage.open(path, checkpoint_interval=interval)
    try:
        assert await storage._w.setting("wal_autocheckpoint") == 8000
        start_size = path.stat().st_size
        for i in range(1500):
            await storage.put(f"k{i:05d}", bytes(3000))
        for _ in range(rounds):
            if path.stat().st_size > start_size + 1_000_000:
                return True
            await asyncio.sleep(0.05)
        assert await storage.get("k01499") == bytes(3000)
        return False
    finally:
        await storage.close()


async def test_commits_rarely_checkpoint_and_the_checkpointer_does(tmp_path: Path) -> None:
    # With the background thread asleep, the commits do not copy the WAL back (SQLite's
    # default would have, at 1,000 pages).
    assert not await wal_copied_back(tmp_path / "idle.sqlite", interval=3600, rounds=4)
    # Awake, it does, within a few of its rounds.
    assert await wal_copied_back(tmp_path / "busy.sqlite", interval=0.05, rounds=100)


async def test_the_wal_stays_bounded_under_a_steady_write_load(tmp_path: Path) -> None:
    # A checkpoint from another thread always finishes behind the latest commit, so under
    # steady writes only the writer's own checkpoint lets the WAL start over; without it the
    # WAL would grow with everything ever written.
    path = tmp_path / "steady.sqlite"
    storage = await SQLiteStorage.open(path, checkpoint_interval=0.02, wal_restart_pages=128)
    wal = path.with_name(path.name + "-wal")
    largest = 0
    try:
        for i in range(2500):  # ~10 MB of pages, one commit each, no pause
            await storage.put(f"k{i:05d}", bytes(3000))
            largest = max(largest, wal.stat().st_size)
        assert await storage.get("k02499") == bytes(3000)
    finally:
        await storage.close()
    assert largest < 4 * 128 * 4120, f"the WAL grew to {largest} bytes"


async def test_transactions_queued_during_the_lock_wait_join_it(
    db: tuple[SQLiteStorage, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    storage, path = db
    begins: list[int] = []
    original = storage._w._begin

    def counting_begin() -> None:
        original()
        begins.append(1)

    monkeypatch.setattr(storage._w, "_begin", counting_begin)
    outcomes = await while_locked(
        path, storage.put("first", b"1"), [storage.put(f"k{i}", b"v") for i in range(20)]
    )
    assert outcomes == [None] * 21
    # The first transaction waited for the lock while the others queued: they ran with it,
    # one transaction and one commit, instead of a second round of waiting.
    assert len(begins) == 1


async def test_a_durable_write_never_joins_a_commit_without_fsync(
    db: tuple[SQLiteStorage, Path],
) -> None:
    storage, path = db
    modes: dict[str, int] = {}

    def recording(name: str) -> Any:
        def fn(old: bytes | None) -> bytes:
            modes[name] = storage._w._db.execute("PRAGMA synchronous").fetchone()[0]
            return b"x"

        return fn

    outcomes = await while_locked(
        path,
        storage.update("nonce-1", recording("nonce-1"), durable=False),
        [
            storage.update("nonce-2", recording("nonce-2"), durable=False),
            storage.update("token", recording("token")),
            storage.update("nonce-3", recording("nonce-3"), durable=False),
        ],
    )
    assert all(o == (None, b"x") for o in outcomes)
    # nonce-2 joined the relaxed commit; the token did not: it (and what queued behind it)
    # committed with an fsync.
    assert modes == {"nonce-1": 1, "nonce-2": 1, "token": 2, "nonce-3": 2}
