"""Response wrapping: X-Vault-Wrap-TTL on any response, sys/wrapping/{wrap,unwrap,lookup,rewrap}
with Vault's answers; wrapped responses kept encrypted under a hash of a single-use token."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.approle.conftest import approle_registry, enable, login, make_role
from tests.conftest import Server, ServerFactory

INVALID = {"errors": ["wrapping token is not valid or does not exist"]}


@pytest.fixture
async def srv(server_factory: ServerFactory) -> AsyncIterator[Server]:
    """AppRole gives the secret IDs to wrap (the trusted-orchestrator pattern)."""
    async with server_factory(registry=approle_registry()) as server:
        await enable(server)
        yield server


async def wrapped_secret_id(srv: Server, ttl: str = "120s") -> dict[str, object]:
    got = await srv.call(
        "POST", "/v1/auth/approle/role/app/secret-id", json={}, headers={"X-Vault-Wrap-TTL": ttl}
    )
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["data"] is None and body["request_id"] == "" and body["auth"] is None
    info: dict[str, object] = body["wrap_info"]
    return info


async def test_wrapped_secret_id_unwraps_once(srv: Server) -> None:
    role_id = await make_role(srv, "app")
    info = await wrapped_secret_id(srv)
    assert list(info) == [
        "token",
        "accessor",
        "ttl",
        "creation_time",
        "creation_path",
        "wrapped_accessor",
    ]
    assert info["ttl"] == 120 and info["creation_path"] == "auth/approle/role/app/secret-id"
    assert info["creation_time"] == "2026-11-22T08:02:18Z"
    token = str(info["token"])
    # The wrapping token is no token of the token store.
    assert (await srv.call("GET", "/v1/auth/token/lookup-self", token=token)).status_code == 403
    looked = await srv.call("POST", "/v1/sys/wrapping/lookup", token=token)
    assert looked.json()["data"] == {
        "creation_path": "auth/approle/role/app/secret-id",
        "creation_time": "2026-11-22T08:02:18Z",
        "creation_ttl": 120,
    }
    unwrapped = await srv.call("POST", "/v1/sys/wrapping/unwrap", token=token)
    assert unwrapped.status_code == 200, unwrapped.text
    data = unwrapped.json()["data"]
    assert data["secret_id_accessor"] == info["wrapped_accessor"]
    assert (await login(srv, role_id, data["secret_id"])).status_code == 200
    again = await srv.call("POST", "/v1/sys/wrapping/unwrap", token=token)
    assert (again.status_code, again.json()) == (400, INVALID)
    assert (await srv.call("POST", "/v1/sys/wrapping/lookup", token=token)).json() == INVALID


async def test_unwrap_with_body_token_and_concurrent_unwraps(srv: Server) -> None:
    await make_role(srv, "app")
    info = await wrapped_secret_id(srv)
    # As `token` in the body, the caller's own token must be valid.
    anonymous = await srv.call(
        "POST", "/v1/sys/wrapping/unwrap", token=None, json={"token": info["token"]}
    )
    assert anonymous.status_code == 403
    results = await asyncio.gather(
        *[
            srv.call("POST", "/v1/sys/wrapping/unwrap", json={"token": info["token"]})
            for _ in range(10)
        ]
    )
    assert sorted(r.status_code for r in results) == [200] + [400] * 9


async def test_expiry_rewrap_and_sweep(srv: Server) -> None:
    await make_role(srv, "app")
    info = await wrapped_secret_id(srv, "60")
    rewrapped = await srv.call("POST", "/v1/sys/wrapping/rewrap", json={"token": info["token"]})
    new = rewrapped.json()["wrap_info"]
    assert new["token"] != info["token"] and new["ttl"] == 60
    assert new["wrapped_accessor"] == info["wrapped_accessor"]
    old = await srv.call("POST", "/v1/sys/wrapping/unwrap", token=str(info["token"]))
    assert old.json() == INVALID
    srv.clock.advance(61)
    expired = await srv.call("POST", "/v1/sys/wrapping/unwrap", token=new["token"])
    assert expired.json() == INVALID
    await wrapped_secret_id(srv, "10s")
    srv.clock.advance(11)
    assert await srv.runtime.wrapping.sweep_expired() == 1
    assert await srv.storage.list("sys/wrapping/") == []


async def test_wrap_arbitrary_data_and_login(srv: Server) -> None:
    wrapped = await srv.call(
        "POST",
        "/v1/sys/wrapping/wrap",
        json={"a": "b", "n": 1},
        headers={"X-Vault-Wrap-TTL": "5m"},
    )
    info = wrapped.json()["wrap_info"]
    assert info["creation_path"] == "sys/wrapping/wrap" and info["ttl"] == 300
    got = await srv.call("POST", "/v1/sys/wrapping/unwrap", token=info["token"])
    assert got.json()["data"] == {"a": "b", "n": 1} and got.json()["warnings"] is None
    no_ttl = await srv.call("POST", "/v1/sys/wrapping/wrap", json={"a": "b"})
    assert no_ttl.status_code == 400
    bad = await srv.call("GET", "/v1/sys/auth", headers={"X-Vault-Wrap-TTL": "soon"})
    assert bad.status_code == 400 and "X-Vault-Wrap-TTL" in bad.text
    # A login's token can be wrapped too: wrapped_accessor is the token's accessor.
    role_id = await make_role(srv, "app")
    secret = (await srv.call("POST", "/v1/auth/approle/role/app/secret-id", json={})).json()
    login_wrapped = await srv.call(
        "POST",
        "/v1/auth/approle/login",
        token=None,
        json={"role_id": role_id, "secret_id": secret["data"]["secret_id"]},
        headers={"X-Vault-Wrap-TTL": "1m"},
    )
    info = login_wrapped.json()["wrap_info"]
    auth = (await srv.call("POST", "/v1/sys/wrapping/unwrap", token=info["token"])).json()["auth"]
    assert auth["accessor"] == info["wrapped_accessor"] and auth["client_token"].startswith("s.")
    # 204 responses have nothing to wrap.
    deleted = await srv.call(
        "DELETE", "/v1/auth/approle/role/app", headers={"X-Vault-Wrap-TTL": "1m"}
    )
    assert deleted.status_code == 204


async def test_wrapped_response_is_not_in_storage_in_clear(srv: Server) -> None:
    await make_role(srv, "app")
    marker = "wrapped-plaintext-marker"
    info = (
        await srv.call(
            "POST",
            "/v1/sys/wrapping/wrap",
            json={"secret": marker},
            headers={"X-Vault-Wrap-TTL": "5m"},
        )
    ).json()["wrap_info"]
    keys = await srv.storage.list("")
    blob = b"".join([k.encode() for k in keys] + [await srv.storage.get(k) or b"" for k in keys])
    assert marker.encode() not in blob and info["token"].encode() not in blob
