"""What one request costs the storage, pinned: PostgreSQL round trips (statements asyncpg sends,
prepares included) and storage operations, counted by tests/support/roundtrips.py after a few
unmeasured requests of the same kind. Each round trip costs CPU in wardgate and in a PostgreSQL
backend (on the same machine, context switches too), so a new per-request read fails here."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import backend_config
from tests.support.roundtrips import counting_server, measure, signed_login

GET_MANY = "SELECT key, value FROM wardgate_kv WHERE key = ANY($1::bytea[])"


@pytest.fixture(params=["sqlite", "postgresql"])
async def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_a_read_only_request_is_one_statement(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path
) -> None:
    config = await backend_config(request, backend, tmp_path)
    async with counting_server(config) as (workloads, tally):
        # lookup-self with a non-root token from auth/token/create: the tables, the policy
        # generation and the token's entry, all in one statement.
        got = await measure(workloads, tally, "lookup-self")
        assert [op.split()[0] for op in got.ops] == ["get_many"], got.ops
        # sys/health: that same statement is its database check (no separate ping).
        health = await measure(workloads, tally, "health")
        assert [op.split()[0] for op in health.ops] == ["get_many"], health.ops
        # A role read adds the role's own read only.
        role = await measure(workloads, tally, "role-read")
        assert [op.split()[0] for op in role.ops] == ["get_many", "get"], role.ops
        # A token an auth mount issued: its issuer check uses the mount table read with it.
        srv = workloads.srv
        login = await srv.call(
            "POST", "/v1/auth/alicloud/login", token=None, json=signed_login(srv.clock.now())
        )
        assert login.status_code == 200, login.text
        workloads.reader = login.json()["auth"]["client_token"]
        issued = await measure(workloads, tally, "lookup-self")
        assert [op.split()[0] for op in issued.ops] == ["get_many"], issued.ops
        if backend == "postgresql":
            assert got.statements == [GET_MANY]
            assert health.statements == [GET_MANY]
            assert issued.statements == [GET_MANY]
            assert len(role.statements) == 2


async def test_writes_and_logins(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path
) -> None:
    config = await backend_config(request, backend, tmp_path)
    async with counting_server(config) as (workloads, tally):
        # Role write (root): the request's read, the role (its existence check hands it to
        # the handler), the write.
        write = await measure(workloads, tally, "role-write")
        assert [op.split()[0] for op in write.ops] == ["get_many", "get", "put"], write.ops
        # AliCloud login: the request's read, the nonce claim (one INSERT on PostgreSQL), the
        # role, the token, the mount table again (was the mount disabled meanwhile?).
        login = await measure(workloads, tally, "login")
        assert [op.split()[0] for op in login.ops] == [
            "get_many",
            "update",
            "get",
            "write",
            "get",
        ], login.ops
        # AppRole login: the request's read, the role ID's index, the role with its lock
        # record and secret ID, the token, the mount table again.
        approle = await measure(workloads, tally, "approle-login")
        assert [op.split()[0] for op in approle.ops] == [
            "get_many",
            "get",
            "get_many",
            "write",
            "get",
        ], approle.ops
        if backend == "postgresql":
            assert len(write.statements) == 3
            assert len(login.statements) == 5, login.statements
            assert len(approle.statements) == 5
