"""The storage contract, checked against every backend (plus SQLite-only details at the end)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from core.storage import Delete, Put, Storage, StorageView, open_configured, open_storage
from core.storage import sqlite as sqlite_mod
from core.storage.memory import MemoryStorage
from core.storage.sqlite import SQLiteStorage
from tests.conftest import STORAGE_BACKENDS, backend_config


@pytest.fixture(params=STORAGE_BACKENDS)
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    s = await open_configured((await backend_config(request, request.param, tmp_path)).storage)
    yield s
    await s.close()


@pytest.fixture
async def sqlite_storage(tmp_path: Path) -> AsyncIterator[SQLiteStorage]:
    s = await SQLiteStorage.open(tmp_path / "wardgate.sqlite")
    yield s
    await s.close()


async def put_all(s: Storage | StorageView, keys: list[str]) -> None:
    for k in keys:
        await s.put(k, k.encode())


class Boom(Exception):
    pass


# --- get / put / delete -------------------------------------------------------------------


async def test_get_missing(storage: Storage) -> None:
    assert await storage.get("nope") is None


async def test_get_many(storage: Storage) -> None:
    await put_all(storage, ["a", "a/b", "c"])
    await storage.put("bin", b"\x00\xff")
    assert await storage.get_many(["c", "nope", "a/b", "bin", "a"]) == [
        b"c",
        None,
        b"a/b",
        b"\x00\xff",
        b"a",
    ]
    assert await storage.get_many(["x", "x"]) == [None, None]
    assert await storage.get_many([]) == []
    view = StorageView(storage, "a/")
    assert await view.get_many(["b", "c"]) == [b"a/b", None]


async def test_put_get_overwrite(storage: Storage) -> None:
    await storage.put("a/b", b"1")
    assert await storage.get("a/b") == b"1"
    await storage.put("a/b", b"2")
    assert await storage.get("a/b") == b"2"
    assert await storage.list("") == ["a/b"]


async def test_values_are_arbitrary_bytes(storage: Storage) -> None:
    value = bytes(range(256)) * 3
    await storage.put("bin", value)
    await storage.put("empty", b"")
    assert await storage.get("bin") == value
    # An empty value is a value, not a missing key.
    assert await storage.get("empty") == b""
    assert await storage.list("") == ["bin", "empty"]


async def test_delete(storage: Storage) -> None:
    await storage.put("k", b"v")
    await storage.delete("k")
    assert await storage.get("k") is None
    assert await storage.list("") == []
    await storage.delete("k")  # deleting a missing key is fine
    await storage.delete("never-existed")


@pytest.mark.parametrize("bad", ["text", bytearray(b"x"), memoryview(b"x"), None])
async def test_put_rejects_non_bytes(storage: Storage, bad: object) -> None:
    with pytest.raises(TypeError):
        await storage.put("k", bad)  # type: ignore[arg-type]
    assert await storage.get("k") is None


# --- list ---------------------------------------------------------------------------------


async def test_list_prefix_boundaries(storage: Storage) -> None:
    inside = ["a/x", "a/y/z", "a/~", "a/\x7f", "a/é", "a/\uffff", "a/\U0001f600", "a/\U0010ffff"]
    outside = ["a", "a0", "a.", "a\U0010ffff", "b/", "b/x", "A/x", "", "a/"]
    await put_all(storage, outside + inside)
    got = await storage.list("a/")
    # Byte order: UTF-8 byte order is code point order, so sorted() is the reference.
    assert got == sorted(k[2:] for k in inside)
    # The key equal to the prefix is not "after" it, so it is not listed.
    assert "" not in got


async def test_list_prefix_ending_in_high_code_points(storage: Storage) -> None:
    # Prefixes whose upper bound cannot be "last char + 1" in the obvious way.
    await put_all(
        storage,
        [
            "a\U0010ffff",
            "a\U0010ffffz",
            "a\U0010ffff\U0010ffff",
            "b",
            "x\ud7ffq",
            "x\ue000",
            "\U0010ffff",
            "\U0010ffff/a",
            "\U0010ffff\U0010ffff",
        ],
    )
    assert await storage.list("a\U0010ffff") == ["z", "\U0010ffff"]
    assert await storage.list("x\ud7ff") == ["q"]
    assert await storage.list("\U0010ffff") == ["/a", "\U0010ffff"]
    assert await storage.list("\U0010ffff\U0010ffff") == []


async def test_list_empty_prefix(storage: Storage) -> None:
    keys = ["b", "a/1", "a", "\U0001f600", "z/z/z"]
    await put_all(storage, keys)
    assert await storage.list("") == sorted(keys)
    assert await storage.list("", after="a") == ["a/1", "b", "z/z/z", "\U0001f600"]
    assert await storage.list("", limit=2) == ["a", "a/1"]


async def test_list_after_and_limit(storage: Storage) -> None:
    await put_all(storage, ["p/a", "p/b", "p/b/c", "p/ba", "p/c", "q/a"])
    assert await storage.list("p/", after="a") == ["b", "b/c", "ba", "c"]
    # `after` is exclusive, and keys extending it sort after it.
    assert await storage.list("p/", after="b") == ["b/c", "ba", "c"]
    assert await storage.list("p/", after="bz") == ["c"]
    assert await storage.list("p/", after="c") == []
    assert await storage.list("p/", after="b", limit=2) == ["b/c", "ba"]
    assert await storage.list("p/", limit=0) == []
    assert await storage.list("p/", limit=100) == ["a", "b", "b/c", "ba", "c"]
    assert await storage.list("nothing/") == []
    with pytest.raises(ValueError):
        await storage.list("p/", limit=-1)


async def test_list_paging_covers_everything_once(storage: Storage) -> None:
    keys = [f"page/{i:03d}" for i in range(23)]
    await put_all(storage, [*keys, "pagf", "pag"])
    seen: list[str] = []
    after = ""
    while batch := await storage.list("page/", after=after, limit=5):
        seen += batch
        after = batch[-1]
    assert seen == [k.removeprefix("page/") for k in keys]


async def test_list_matches_reference_on_random_keys(storage: Storage) -> None:
    # Brute force is the reference; the alphabet is chosen around the edge cases of
    # prefix upper bounds (max code point, surrogate gap, NUL, multi-byte UTF-8).
    rng = random.Random(7)
    alphabet = ["a", "b", "/", "0", "\x00", "~", "é", "\ud7ff", "\ue000", "\uffff"]
    alphabet += ["\U0001f600", "\U0010ffff"]

    def word(n: int) -> str:
        return "".join(rng.choice(alphabet) for _ in range(n))

    keys = sorted({word(rng.randint(1, 4)) for _ in range(250)})
    await storage.write([Put(k, b"") for k in keys])
    for _ in range(300):
        base = rng.choice(keys)
        prefix = base[: rng.randint(0, len(base))] if rng.random() < 0.8 else word(2)
        after = word(rng.randint(0, 2)) if rng.random() < 0.5 else ""
        limit = rng.choice([None, 0, 1, 3, 50])
        want = [k[len(prefix) :] for k in keys if k.startswith(prefix) and k > prefix + after]
        if limit is not None:
            want = want[:limit]
        assert await storage.list(prefix, after=after, limit=limit) == want, (prefix, after)


# --- write --------------------------------------------------------------------------------


async def test_write_applies_ops_in_order(storage: Storage) -> None:
    await storage.put("gone", b"0")
    await storage.write(
        [
            Put("a", b"1"),
            Put("b", b"2"),
            Delete("gone"),
            Put("b", b"3"),  # later op wins
            Put("c", b"4"),
            Delete("c"),
            Delete("missing"),
        ]
    )
    assert await storage.get("a") == b"1"
    assert await storage.get("b") == b"3"
    assert await storage.get("c") is None
    assert await storage.get("gone") is None
    await storage.write([])
    assert await storage.list("") == ["a", "b"]


async def test_write_with_bad_op_writes_nothing(storage: Storage) -> None:
    await storage.put("keep", b"0")
    ops: list[Any] = [Put("a", b"1"), Delete("keep"), Put("b", b"2"), "not an op", Put("c", b"3")]
    with pytest.raises(TypeError):
        await storage.write(ops)
    assert await storage.list("") == ["keep"]
    assert await storage.get("keep") == b"0"
    # The storage is still usable (no transaction left behind).
    await storage.write([Put("d", b"4")])
    assert await storage.list("") == ["d", "keep"]


async def test_write_with_bad_value_midway_writes_nothing(storage: Storage) -> None:
    await storage.put("keep", b"0")
    ops: list[Any] = [Delete("keep"), Put("a", b"1"), Put("b", "not bytes")]  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        await storage.write(ops)
    assert await storage.list("") == ["keep"]


# --- update -------------------------------------------------------------------------------


async def test_update_create_modify_delete(storage: Storage) -> None:
    seen: list[bytes | None] = []

    def incr(old: bytes | None) -> bytes:
        seen.append(old)
        return str(int(old or b"0") + 1).encode()

    assert await storage.update("n", incr) == (None, b"1")
    assert await storage.update("n", incr) == (b"1", b"2")
    assert await storage.get("n") == b"2"
    assert seen == [None, b"1"]
    assert await storage.update("n", lambda old: None) == (b"2", None)
    assert await storage.get("n") is None
    assert await storage.list("") == []
    # Deleting what is not there is a no-op, not an error.
    assert await storage.update("n", lambda old: None) == (None, None)
    assert await storage.list("") == []


async def test_update_fn_raising_aborts(storage: Storage) -> None:
    await storage.put("k", b"old")
    err = Boom("no")

    def fail(old: bytes | None) -> bytes:
        raise err

    with pytest.raises(Boom) as caught:
        await storage.update("k", fail)
    assert caught.value is err  # the same exception, not a wrapper
    assert await storage.get("k") == b"old"
    with pytest.raises(Boom):
        await storage.update("fresh", fail)
    assert await storage.list("") == ["k"]
    # Still usable afterwards.
    assert await storage.update("k", lambda old: b"new") == (b"old", b"new")


async def test_update_rejects_non_bytes_result(storage: Storage) -> None:
    await storage.put("k", b"old")
    with pytest.raises(TypeError):
        await storage.update("k", lambda old: "text")  # type: ignore[arg-type,return-value]
    assert await storage.get("k") == b"old"


async def test_concurrent_updates_in_one_process(storage: Storage) -> None:
    def incr(old: bytes | None) -> bytes:
        return str(int(old or b"0") + 1).encode()

    results = await asyncio.gather(*(storage.update("n", incr) for _ in range(50)))
    assert await storage.get("n") == b"50"
    assert sorted(int(new or b"") for _, new in results) == list(range(1, 51))


async def test_failed_update_does_not_take_concurrent_writes_with_it(storage: Storage) -> None:
    # If a put could slip into another coroutine's open transaction, the rollback of that
    # transaction would silently undo the put.
    def fail(old: bytes | None) -> bytes:
        raise Boom

    tasks: list[asyncio.Future[Any]] = []
    for i in range(20):
        tasks.append(asyncio.ensure_future(storage.update("x", fail)))
        tasks.append(asyncio.ensure_future(storage.put(f"p{i:02d}", b"kept")))
        tasks.append(asyncio.ensure_future(storage.write([Put(f"w{i:02d}", b"kept")])))
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, Boom) for r in results[0::3])
    assert await storage.get("x") is None
    assert len(await storage.list("p")) == 20
    assert len(await storage.list("w")) == 20


# --- StorageView --------------------------------------------------------------------------


async def test_view_prefixes_every_operation(storage: Storage) -> None:
    await put_all(storage, ["mnt/ab", "mnt/a", "other/k"])
    view = StorageView(storage, "mnt/a/")
    assert view.prefix == "mnt/a/"
    await view.put("k", b"1")
    assert await storage.get("mnt/a/k") == b"1"
    assert await view.get("k") == b"1"
    assert await view.get("ab") is None
    await view.write([Put("w1", b"2"), Put("w2", b"3"), Delete("k")])
    assert await storage.get("mnt/a/k") is None
    assert await view.update("w1", lambda old: (old or b"") + b"!") == (b"2", b"2!")
    assert await storage.get("mnt/a/w1") == b"2!"
    assert await view.list("") == ["w1", "w2"]
    assert await view.list("w", after="1") == ["2"]
    await view.delete("w2")
    assert await storage.list("") == ["mnt/a", "mnt/a/w1", "mnt/ab", "other/k"]


async def test_nested_views(storage: Storage) -> None:
    outer = StorageView(storage, "sys/")
    inner = outer.sub("tokens/").sub("id/")
    assert inner.prefix == "sys/tokens/id/"
    await inner.put("t1", b"a")
    await outer.put("tokens/acc/x", b"b")
    assert await storage.get("sys/tokens/id/t1") == b"a"
    assert await outer.list("tokens/") == ["acc/x", "id/t1"]
    assert await inner.list("") == ["t1"]
    assert await outer.sub("tokens/").list("", limit=1) == ["acc/x"]
    await inner.close()  # a view does not own its storage
    assert await storage.get("sys/tokens/id/t1") == b"a"


# --- factory ------------------------------------------------------------------------------


async def test_open_storage_rejects_unknown_backend() -> None:
    with pytest.raises(ValueError, match="'postgres'"):
        await open_storage("postgres", "x")


async def test_open_storage_sqlite_needs_path() -> None:
    with pytest.raises(ValueError, match="path"):
        await open_storage("sqlite", None)


async def test_open_storage_backends(tmp_path: Path) -> None:
    mem = await open_storage("memory", None)
    assert isinstance(mem, MemoryStorage)
    db = await open_storage("sqlite", str(tmp_path / "x.db"), synchronous="normal")
    assert isinstance(db, SQLiteStorage)
    await db.close()


# --- SQLite only --------------------------------------------------------------------------


async def test_sqlite_rejects_bad_synchronous_and_memory_path(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="synchronous"):
        await SQLiteStorage.open(tmp_path / "x.db", synchronous="off")
    with pytest.raises(ValueError):
        await SQLiteStorage.open(":memory:")


@pytest.mark.parametrize(("setting", "pragma"), [("full", 2), ("normal", 1), ("FULL", 2)])
async def test_sqlite_synchronous_setting(tmp_path: Path, setting: str, pragma: int) -> None:
    s = await SQLiteStorage.open(tmp_path / "x.db", synchronous=setting)
    try:
        rows = [(await s._w.setting("synchronous"),)]
        assert rows[0][0] == pragma
    finally:
        await s.close()


async def test_sqlite_file_layout(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "wardgate.sqlite"
    s = await SQLiteStorage.open(path)  # creates the parent directories
    await s.put("k", b"v")
    try:
        raw = sqlite3.connect(path)
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        (schema,) = raw.execute("SELECT sql FROM sqlite_master WHERE name = 'kv'").fetchone()
        assert "WITHOUT ROWID" in schema
        assert raw.execute("SELECT key, value FROM kv").fetchall() == [("k", b"v")]
        raw.close()
    finally:
        await s.close()


async def test_sqlite_list_is_a_range_scan(sqlite_storage: SQLiteStorage, tmp_path: Path) -> None:
    raw = sqlite3.connect(tmp_path / "wardgate.sqlite")
    for sql, params in [
        (sqlite_mod._LIST_BOUNDED, ("a/", "a0", 10)),
        (sqlite_mod._LIST_UNBOUNDED, ("", -1)),
    ]:
        plan = " ".join(row[3] for row in raw.execute("EXPLAIN QUERY PLAN " + sql, params))
        assert "SEARCH kv USING PRIMARY KEY" in plan, plan
        assert "TEMP B-TREE" not in plan, plan  # ORDER BY is served by the index
    raw.close()


def test_prefix_upper_bound() -> None:
    bound = sqlite_mod._prefix_upper_bound
    assert bound("") is None
    assert bound("a/") == "a0"
    assert bound("a\U0010ffff") == "b"
    assert bound("\U0010ffff\U0010ffff") is None
    assert bound("x\ud7ff") == "x\ue000"
    assert bound("\uffff") == "\U00010000"


async def assert_write_lock_free(path: Path) -> None:
    # Another connection (as another process would) can take the write lock at once.
    raw = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        raw.execute("BEGIN IMMEDIATE")
        raw.execute("ROLLBACK")
    finally:
        raw.close()


async def test_sqlite_failed_update_releases_database_lock(
    sqlite_storage: SQLiteStorage, tmp_path: Path
) -> None:
    def fail(old: bytes | None) -> bytes:
        raise Boom

    with pytest.raises(Boom):
        await sqlite_storage.update("k", fail)
    assert not sqlite_storage._w.in_transaction
    await assert_write_lock_free(tmp_path / "wardgate.sqlite")


async def test_sqlite_cancellation_never_leaves_a_transaction_open(
    sqlite_storage: SQLiteStorage, tmp_path: Path
) -> None:
    # Cancel update/write after every possible number of loop turns: whatever point the
    # cancellation hits, the key ends up either fully written or untouched, and no
    # transaction (nor the database's write lock) outlives the cancelled call.
    for turns in range(12):
        for kind in ("update", "write"):
            key = f"{kind}{turns}"
            task: asyncio.Future[Any]
            if kind == "update":
                task = asyncio.ensure_future(sqlite_storage.update(key, lambda old: b"v"))
            else:
                ops = [Put(key, b"v"), Put(key + "/twin", b"v")]
                task = asyncio.ensure_future(sqlite_storage.write(ops))
            for _ in range(turns):
                await asyncio.sleep(0)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            # The next operation queues behind the cancelled one's statements.
            await sqlite_storage.put("probe", b"p")
            assert not sqlite_storage._w.in_transaction
            await assert_write_lock_free(tmp_path / "wardgate.sqlite")
            if kind == "write":
                assert await sqlite_storage.get(key) == await sqlite_storage.get(key + "/twin")


async def test_sqlite_reopen_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    s = await SQLiteStorage.open(path)
    await s.write([Put("a", b"1"), Put("b", b"2")])
    await s.close()
    await s.close()  # closing twice is harmless
    s = await SQLiteStorage.open(path)
    assert await s.list("") == ["a", "b"]
    await s.close()


async def test_update_commits_also_ops_with_it_or_not_at_all(storage: Storage) -> None:
    await storage.put("gone", b"x")
    also = [Put("index/1", b""), Delete("gone")]
    old, new = await storage.update("entry", lambda cur: b"v", also=also)
    assert (old, new) == (None, b"v")
    assert await storage.get("index/1") == b"" and await storage.get("gone") is None

    def refuse(cur: bytes | None) -> bytes:
        raise LookupError("taken")

    with pytest.raises(LookupError):
        await storage.update("entry", refuse, also=[Put("index/2", b"")])
    assert await storage.get("index/2") is None and await storage.get("entry") == b"v"
    # Through a view, the extra ops land under the view's prefix too.
    view = StorageView(storage, "m/")
    await view.update("e", lambda cur: b"1", also=[Put("i", b"")])
    assert await storage.get("m/i") == b""
