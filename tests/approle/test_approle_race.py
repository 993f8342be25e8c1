"""A 1-use secret ID raced by many parallel logins spread over two servers, each with its own
storage instance (connection pool) on one database: PostgreSQL, and SQLite for the two-worker
case in-process (the real two-process SQLite server is tests/server/test_approle_server.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.approle.conftest import approle_registry, enable
from tests.conftest import Server, ServerFactory, backend_config

LOGINS = 40


async def _login(srv: Server, role_id: str, secret_id: str) -> int:
    body = {"role_id": role_id, "secret_id": secret_id}
    got = await srv.call("POST", "/v1/auth/approle/login", json=body, token=None)
    assert got.status_code in (200, 400), got.text
    return got.status_code


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
async def test_one_use_secret_id_spent_once_across_two_servers(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path, server_factory: ServerFactory
) -> None:
    registry = approle_registry()
    # One fresh store; both servers are built from the same config, so share the database.
    config = await backend_config(request, backend, tmp_path)
    async with server_factory(config, registry=registry) as first:
        await enable(first)
        role = {"token_policies": "default", "secret_id_num_uses": 1}
        assert (
            await first.call("POST", "/v1/auth/approle/role/race", json=role)
        ).status_code == 204
        role_id = (await first.call("GET", "/v1/auth/approle/role/race/role-id")).json()["data"][
            "role_id"
        ]
        # The second server starts on the same database: it sees the mount, the role and the
        # server key the secret IDs are hashed with.
        async with server_factory(config, registry=registry) as second:
            for round_ in range(3):
                made = await second.call("POST", "/v1/auth/approle/role/race/secret-id")
                secret_id = made.json()["data"]["secret_id"]
                servers = [first, second] * (LOGINS // 2)
                codes = await asyncio.gather(*(_login(s, role_id, secret_id) for s in servers))
                assert (codes.count(200), codes.count(400)) == (1, LOGINS - 1), round_
            # Each round's losers did not count as guesses: the role is not locked out.
            fresh = (await first.call("POST", "/v1/auth/approle/role/race/secret-id")).json()
            assert await _login(second, role_id, fresh["data"]["secret_id"]) == 200
