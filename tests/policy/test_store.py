"""PolicyStore: CRUD rules for root/default, and a compiled-ACL cache shared safely by processes."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from core.framework import path as framework_path
from core.framework.errors import InternalError
from core.policy import DEFAULT_POLICY_TEXT, PolicyError, PolicyStore
from core.storage import open_configured
from core.storage.base import StorageView
from core.storage.memory import MemoryStorage
from tests.conftest import backend_config

READ_X = 'path "x/*" { capabilities = ["read"] }'


class Clock(framework_path.Clock):
    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def now(self) -> float:
        return self.t


class CountingStorage(MemoryStorage):
    """Counts reads, to pin the per-request cost of compiled()."""

    def __init__(self) -> None:
        super().__init__()
        self.gets = 0

    async def get(self, key: str) -> bytes | None:
        self.gets += 1
        return await super().get(key)


@pytest.fixture
def storage() -> MemoryStorage:
    return MemoryStorage()


@pytest.fixture
def store(storage: MemoryStorage) -> PolicyStore:
    return PolicyStore(StorageView(storage, "sys/policy/"), clock=Clock())


async def test_put_get_keeps_text_and_counts_versions(store: PolicyStore) -> None:
    first = await store.put("Reader", READ_X)
    assert (first.name, first.text, first.version) == ("reader", READ_X, 1)
    assert first.modified == 1_800_000_000.0
    await store.put("reader", READ_X + "\n")
    record = await store.get("READER")
    assert record is not None
    assert (record.text, record.version) == (READ_X + "\n", 2)


async def test_put_stores_base64_decoded(store: PolicyStore) -> None:
    await store.put("b64", base64.b64encode(READ_X.encode()).decode())
    record = await store.get("b64")
    assert record is not None and record.text == READ_X


async def test_put_refuses_invalid_policies_and_keeps_the_old_one(store: PolicyStore) -> None:
    await store.put("p", READ_X)
    with pytest.raises(PolicyError, match='invalid capability "fly"'):
        await store.put("p", 'path "x" { capabilities = ["fly"] }')
    record = await store.get("p")
    assert record is not None and record.text == READ_X


async def test_missing_and_invalid_names_read_as_absent(store: PolicyStore) -> None:
    assert await store.get("nope") is None
    assert await store.get("a/b") is None
    await store.delete("nope")  # deleting a missing policy is not an error
    await store.delete("a/b")


async def test_root_is_virtual_and_immutable(store: PolicyStore) -> None:
    root = await store.get("root")
    assert root is not None and (root.text, root.version, root.modified) == ("", 0, None)
    with pytest.raises(PolicyError, match='cannot update "root" policy'):
        await store.put("root", READ_X)
    with pytest.raises(PolicyError, match='cannot update "root" policy'):
        await store.put("Root", READ_X)
    with pytest.raises(PolicyError, match='cannot delete "root" policy'):
        await store.delete("root")


async def test_default_exists_from_the_start_and_can_be_edited_not_deleted(
    store: PolicyStore,
) -> None:
    default = await store.get("default")
    assert default is not None and default.text == DEFAULT_POLICY_TEXT and default.version == 1
    assert await store.names() == ["default", "root"]
    acl = await store.compiled(["default"])
    assert acl.allowed("read", "auth/token/lookup-self", None, needs_sudo=False).allowed
    with pytest.raises(PolicyError, match="cannot delete default policy"):
        await store.delete("default")
    await store.put("default", READ_X)
    acl = await store.compiled(["default"])
    assert not acl.allowed("read", "auth/token/lookup-self", None, needs_sudo=False).allowed
    assert acl.allowed("read", "x/y", None, needs_sudo=False).allowed


async def test_an_edited_default_is_not_recreated(storage: MemoryStorage) -> None:
    view = StorageView(storage, "sys/policy/")
    await PolicyStore(view).put("default", READ_X)
    later = PolicyStore(view)  # e.g. after a restart
    record = await later.get("default")
    assert record is not None and record.text == READ_X


async def test_names_sorted_with_root_last(store: PolicyStore) -> None:  # transcript 131
    for name in ["via-rules", "approle-reader", "approle-admin"]:
        await store.put(name, READ_X)
    assert await store.names() == [
        "approle-admin",
        "approle-reader",
        "default",
        "via-rules",
        "root",
    ]
    await store.delete("via-rules")
    assert "via-rules" not in await store.names()


async def test_compiled_merges_named_policies_and_ignores_unknown(store: PolicyStore) -> None:
    await store.put("a", 'path "x" { capabilities = ["read"] }')
    await store.put("b", 'path "x" { capabilities = ["update"] }')
    acl = await store.compiled(["a", "B", "ghost"])
    assert acl.capabilities("x") == {"read", "update"}
    assert (await store.compiled(["ghost"])).capabilities("x") == {"deny"}
    assert (await store.compiled(["a", "root"])).is_root


async def test_compiled_is_cached_until_a_change(store: PolicyStore) -> None:
    await store.put("a", READ_X)
    first = await store.compiled(["a"])
    assert await store.compiled(["a"]) is first
    await store.put("other", READ_X)  # any change starts a new generation
    assert await store.compiled(["a"]) is not first


async def test_change_through_one_store_is_seen_by_another_at_once(storage: MemoryStorage) -> None:
    # Two PolicyStore objects on one storage stand for two server processes on one database.
    one = PolicyStore(StorageView(storage, "sys/policy/"))
    two = PolicyStore(StorageView(storage, "sys/policy/"))
    await one.put("p", READ_X)
    assert (await two.compiled(["p"])).allowed("read", "x/1", None, needs_sudo=False).allowed
    await one.put("p", 'path "x/*" { capabilities = ["deny"] }')
    assert not (await two.compiled(["p"])).allowed("read", "x/1", None, needs_sudo=False).allowed
    await two.put("p", READ_X)
    assert (await one.compiled(["p"])).allowed("read", "x/1", None, needs_sudo=False).allowed
    await two.delete("p")
    assert not (await one.compiled(["p"])).allowed("read", "x/1", None, needs_sudo=False).allowed


async def test_default_created_once_across_stores(storage: MemoryStorage) -> None:
    one = PolicyStore(StorageView(storage, "sys/policy/"))
    two = PolicyStore(StorageView(storage, "sys/policy/"))
    await one.put("default", READ_X)
    await two.ensure_default()  # must not overwrite the edit
    record = await two.get("default")
    assert record is not None and record.text == READ_X


async def test_a_cached_compile_costs_one_storage_read() -> None:
    counting = CountingStorage()
    store = PolicyStore(StorageView(counting, "sys/policy/"))
    await store.put("a", READ_X)
    await store.compiled(["a", "default"])
    before = counting.gets
    for _ in range(10):
        await store.compiled(["default", "a"])
    assert counting.gets - before == 10


async def test_unparseable_stored_policy_fails_closed(storage: MemoryStorage) -> None:
    store = PolicyStore(StorageView(storage, "sys/policy/"))
    await store.put("a", READ_X)
    raw = await storage.get("sys/policy/acl/a")
    assert raw is not None
    await storage.put("sys/policy/acl/a", raw.replace(b"read", b"fly"))
    await storage.update("sys/policy/generation", lambda cur: b"999")
    with pytest.raises(InternalError):
        await store.compiled(["a"])


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_two_connections_to_one_database_agree(
    tmp_path: Path, request: pytest.FixtureRequest, backend: str
) -> None:
    # Separate connections share nothing in Python: only the database carries the change, as
    # between two server processes (or nodes).
    config = (await backend_config(request, backend, tmp_path)).storage
    first = await open_configured(config)
    second = await open_configured(config)
    try:
        one = PolicyStore(StorageView(first, "sys/policy/"))
        two = PolicyStore(StorageView(second, "sys/policy/"))
        await one.put("p", READ_X)
        assert (await two.compiled(["p"])).capabilities("x/1") == {"read"}
        await one.put("p", 'path "x/*" { capabilities = ["deny"] }')
        assert (await two.compiled(["p"])).capabilities("x/1") == {"deny"}
        assert await two.names() == ["default", "p", "root"]
    finally:
        await first.close()
        await second.close()
