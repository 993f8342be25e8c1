"""PostgreSQL-only details of the storage (the contract itself runs on every backend in
test_storage.py): migrations under concurrent starts, the sweep lock, `durable`, races between
two nodes' storages, and what a start against an unusable database says."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from core.storage import Put
from core.storage.base import StorageUnavailable
from core.storage.options import PostgresOptions
from core.storage.postgres import PostgresStorage
from tests.support import pg


def options(dsn: str) -> PostgresOptions:
    return PostgresOptions(dsn=dsn, pool_min=1, pool_max=3, connect_timeout=3)


@pytest.fixture
def empty_database() -> Iterator[str]:
    with pg.throwaway_database("wardgate_storage") as dsn:
        yield dsn


async def test_concurrent_first_opens_migrate_once(empty_database: str) -> None:
    opened = await asyncio.gather(
        *(PostgresStorage.open(options(empty_database)) for _ in range(6))
    )
    try:
        await opened[0].put("k", b"v")
        assert [await s.get("k") for s in opened] == [b"v"] * 6
    finally:
        for storage in opened:
            await storage.close()
    async with pg.connected(empty_database) as conn:
        assert await conn.fetch("SELECT version FROM wardgate_schema") == [(1,)]


async def test_a_schema_newer_than_this_wardgate_is_refused(empty_database: str) -> None:
    await (await PostgresStorage.open(options(empty_database))).close()
    async with pg.connected(empty_database) as conn:
        await conn.execute("UPDATE wardgate_schema SET version = 99")
    with pytest.raises(StorageUnavailable, match="schema is version 99"):
        await PostgresStorage.open(options(empty_database))


async def test_exclusive_is_held_by_one_node_at_a_time(pg_dsn: str) -> None:
    first = await PostgresStorage.open(options(pg_dsn))
    second = await PostgresStorage.open(options(pg_dsn))
    try:
        async with first.exclusive("sweep") as mine:
            assert mine
            async with second.exclusive("sweep") as theirs:
                assert not theirs
            async with second.exclusive("other") as other:
                assert other  # locks are per name
        async with second.exclusive("sweep") as theirs:
            assert theirs  # released with the block
    finally:
        await first.close()
        await second.close()


DURABILITY_PROBE = """
CREATE TABLE wardgate_test_commits (key bytea, sync text);
CREATE FUNCTION wardgate_test_probe() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO wardgate_test_commits VALUES (NEW.key, current_setting('synchronous_commit'));
  RETURN NEW;
END $$;
CREATE TRIGGER wardgate_test_probe BEFORE INSERT OR UPDATE ON wardgate_kv
  FOR EACH ROW EXECUTE FUNCTION wardgate_test_probe();
"""


async def install_durability_probe(database: str) -> None:
    """From now on every row written records the synchronous_commit of its transaction."""
    async with pg.connected(database) as conn:
        await conn.execute(DURABILITY_PROBE)


async def commit_modes(database: str) -> list[tuple[str, str]]:
    """(key, synchronous_commit) of every row written since the probe, sorted."""
    async with pg.connected(database) as conn:
        rows = await conn.fetch("SELECT convert_from(key, 'UTF8'), sync FROM wardgate_test_commits")
    return sorted((row[0], row[1]) for row in rows)


async def test_durable_false_turns_synchronous_commit_off_for_that_write_only(
    empty_database: str,
) -> None:
    storage = await PostgresStorage.open(options(empty_database))
    try:
        await install_durability_probe(empty_database)
        await storage.update("nonce", lambda old: b"1", also=[Put("index", b"")], durable=False)
        await storage.update("token", lambda old: b"2")
        await storage.put("after", b"3")
        assert await commit_modes(empty_database) == [
            ("after", "on"),
            ("index", "off"),
            ("nonce", "off"),
            ("token", "on"),
        ]
    finally:
        await storage.close()


async def test_a_likely_absent_key_is_created_in_one_statement_durable_or_not(
    empty_database: str,
) -> None:
    storage = await PostgresStorage.open(options(empty_database))
    try:
        await install_durability_probe(empty_database)
        quiet = await storage.update(
            "nonce", lambda old: b"1", also=[Put("index", b"")], durable=False, likely_absent=True
        )
        loud = await storage.update(
            "token", lambda old: b"2", also=[Put("token-index", b"")], likely_absent=True
        )
        assert (quiet, loud) == ((None, b"1"), (None, b"2"))
        assert await commit_modes(empty_database) == [
            ("index", "off"),
            ("nonce", "off"),
            ("token", "on"),
            ("token-index", "on"),
        ]
        # The key exists: the function decides on the stored value, `also` follows it.
        seen: list[bytes | None] = []

        def again(old: bytes | None) -> bytes:
            seen.append(old)
            if old is not None:
                raise KeyError("taken")
            return b"x"

        with pytest.raises(KeyError):
            await storage.update("nonce", again, also=[Put("index2", b"")], likely_absent=True)
        assert seen == [None, b"1"]
        assert await storage.get_many(["nonce", "index2"]) == [b"1", None]
        # A function that refuses a missing key is asked again inside the transaction.
        with pytest.raises(KeyError):
            await storage.update("gone", again_missing, likely_absent=True)
        assert await storage.get("gone") is None
    finally:
        await storage.close()


def again_missing(old: bytes | None) -> bytes:
    raise KeyError("missing")


async def test_two_nodes_claiming_one_likely_absent_key_at_once_one_wins(pg_dsn: str) -> None:
    first = await PostgresStorage.open(options(pg_dsn))
    second = await PostgresStorage.open(options(pg_dsn))

    def claim(old: bytes | None) -> bytes:
        if old is not None:
            raise KeyError("taken")
        return b"mine"

    async def try_claim(storage: PostgresStorage, key: str, n: int) -> bool:
        try:
            await storage.update(key, claim, also=[Put(f"{key}/by/{n}", b"")], likely_absent=True)
        except KeyError:
            return False
        return True

    try:
        for round_ in range(5):
            key = f"nonce/{round_}"
            won = await asyncio.gather(
                *(try_claim(s, key, n) for n, s in enumerate((first, second) * 10))
            )
            assert won.count(True) == 1
            winner = won.index(True)
            assert await first.list(f"{key}/by/") == [str(winner)]
    finally:
        await first.close()
        await second.close()


async def test_two_nodes_creating_one_key_at_once_never_both_see_it_missing(pg_dsn: str) -> None:
    first = await PostgresStorage.open(options(pg_dsn))
    second = await PostgresStorage.open(options(pg_dsn))

    def incr(old: bytes | None) -> bytes:
        return str(int(old or b"0") + 1).encode()

    try:
        for round_ in range(5):
            key = f"counter/{round_}"
            results = await asyncio.gather(*(s.update(key, incr) for s in (first, second) * 10))
            assert await first.get(key) == b"20"
            assert sorted(int(new or b"") for _, new in results) == list(range(1, 21))
    finally:
        await first.close()
        await second.close()


@pytest.mark.parametrize(
    ("dsn", "expected"),
    [
        ("postgresql://postgres@127.0.0.1:1/wardgate", 'database "wardgate" on 127.0.0.1:1'),
        ("mysql://x@y/z", "storage.dsn is not a valid PostgreSQL DSN"),
    ],
)
async def test_an_unusable_dsn_is_one_clear_error(dsn: str, expected: str) -> None:
    with pytest.raises(StorageUnavailable) as caught:
        await PostgresStorage.open(options(dsn))
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)


async def test_a_missing_database_is_named(pg_session_dsn: str) -> None:
    with pytest.raises(StorageUnavailable) as caught:
        await PostgresStorage.open(options(pg.dsn_for("wardgate_missing_db")))
    assert 'database "wardgate_missing_db" does not exist' in str(caught.value)


async def test_the_password_of_a_dsn_never_reaches_the_message() -> None:
    dsn = "postgresql://wardgate:s3cret-pw@127.0.0.1:1/vault"
    with pytest.raises(StorageUnavailable) as caught:
        await PostgresStorage.open(options(dsn))
    message = str(caught.value)
    assert 'database "vault" on 127.0.0.1:1 (user "wardgate")' in message
    assert "s3cret" not in message
