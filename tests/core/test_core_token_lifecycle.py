"""Using, limiting, expiring, renewing and revoking tokens (on memory and SQLite storage)."""

from __future__ import annotations

import asyncio
import string
from collections import Counter
from typing import Any

import pytest

from core.tokens.store import TokenEntry, random_id

CREATE = "/v1/auth/token/create"
LOOKUP_SELF = "/v1/auth/token/lookup-self"
DENIED = {"errors": ["permission denied"]}
POLICY_DENIED = {"errors": ["1 error occurred:\n\t* permission denied\n\n"]}


async def create(srv: Any, body: dict[str, Any] | None = None, token: str | None = None) -> Any:
    resp = await srv.call("POST", CREATE, json=body or {}, token=token or srv.root_token)
    assert resp.status_code == 200, resp.text
    return resp.json()["auth"]


async def token_keys(srv: Any) -> list[str]:
    return list(await srv.storage.list("sys/token/"))


# -- presenting a token -----------------------------------------------------------------------


async def test_bearer_header_is_accepted(server: Any) -> None:
    resp = await server.call(
        "GET", LOOKUP_SELF, token=None, headers={"Authorization": f"Bearer {server.root_token}"}
    )
    assert resp.status_code == 200
    assert resp.json()["data"]["id"] == server.root_token


async def test_x_vault_token_wins_over_bearer(server: Any) -> None:
    bad_x = await server.call(
        "GET", LOOKUP_SELF, token="bogus", headers={"Authorization": f"Bearer {server.root_token}"}
    )
    assert bad_x.status_code == 403
    assert bad_x.json() == DENIED
    good_x = await server.call("GET", LOOKUP_SELF, headers={"Authorization": "Bearer bogus"})
    assert good_x.status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Vault-Token": ""},
        {"Authorization": "Basic cm9vdDpyb290"},
        {"Authorization": "Bearer "},
        {"X-Vault-Token": "s.doesnotexist000000000000"},
        {"X-Vault-Token": "x" * 10000},
    ],
)
async def test_missing_or_bad_token_is_plain_403(server: Any, headers: dict[str, str]) -> None:
    for path in (LOOKUP_SELF, "/v1/sys/auth", "/v1/auth/token/accessors"):
        resp = await server.call("GET", path, token=None, headers=headers)
        assert resp.status_code == 403
        assert resp.json() == DENIED


# -- the interim authorization rule -----------------------------------------------------------


async def test_non_root_token_gets_only_self_service(server: Any) -> None:
    token = (await create(server, {"ttl": "1h", "policies": ["dev"]}))["client_token"]
    for method, path in (
        ("GET", "/v1/sys/auth"),
        ("POST", "/v1/sys/auth/x"),
        ("POST", CREATE),
        ("POST", "/v1/auth/token/create-orphan"),
        ("POST", "/v1/auth/token/lookup"),
        ("LIST", "/v1/auth/token/accessors"),
        ("POST", LOOKUP_SELF),  # the default policy grants only read on lookup-self
    ):
        resp = await server.call(method, path, token=token, json={"type": "testkv"})
        assert resp.status_code == 403, (method, path)
        assert resp.json() == POLICY_DENIED
    assert (await server.call("GET", LOOKUP_SELF, token=token)).status_code == 200
    resp = await server.call("POST", "/v1/auth/token/renew-self", token=token, json={})
    assert resp.status_code == 200
    resp = await server.call("POST", "/v1/auth/token/revoke-self", token=token)
    assert resp.status_code == 204
    assert (await server.call("GET", LOOKUP_SELF, token=token)).json() == DENIED


async def test_self_service_comes_from_the_default_policy(server: Any) -> None:
    token = (await create(server, {"ttl": "1h", "policies": ["r"], "no_default_policy": True}))[
        "client_token"
    ]
    resp = await server.call("GET", LOOKUP_SELF, token=token)
    assert resp.status_code == 403
    assert resp.json() == POLICY_DENIED


# -- use limits --------------------------------------------------------------------------------


async def test_num_uses_exactly_n_then_403(any_server: Any) -> None:
    srv = any_server
    token = (await create(srv, {"num_uses": 2, "ttl": "1h", "policies": ["default"]}))[
        "client_token"
    ]
    first = await srv.call("GET", LOOKUP_SELF, token=token)
    assert first.json()["data"]["num_uses"] == 1
    last = await srv.call("GET", LOOKUP_SELF, token=token)
    assert last.json()["data"]["num_uses"] == -1
    third = await srv.call("GET", LOOKUP_SELF, token=token)
    assert third.status_code == 403
    assert third.json() == DENIED
    resp = await srv.call("POST", "/v1/auth/token/lookup", json={"token": token})
    assert resp.json() == {"errors": ["bad token"]}


async def test_a_denied_request_spends_a_use(server: Any) -> None:
    token = (await create(server, {"num_uses": 1, "ttl": "1h", "policies": ["default"]}))[
        "client_token"
    ]
    assert (await server.call("GET", "/v1/sys/auth", token=token)).json() == POLICY_DENIED
    assert (await server.call("GET", LOOKUP_SELF, token=token)).json() == DENIED


async def test_the_last_use_revokes_the_token_from_storage(server: Any) -> None:
    auth = await create(server, {"num_uses": 1, "ttl": "1h", "policies": ["default"]})
    assert (await server.call("GET", LOOKUP_SELF, token=auth["client_token"])).status_code == 200
    assert not any(k.startswith("accessor/" + auth["accessor"]) for k in await token_keys(server))


async def test_concurrent_uses_of_a_one_use_token(any_server: Any) -> None:
    srv = any_server
    token = (await create(srv, {"num_uses": 1, "ttl": "1h", "policies": ["default"]}))[
        "client_token"
    ]
    results = await asyncio.gather(
        srv.call("GET", LOOKUP_SELF, token=token), srv.call("GET", LOOKUP_SELF, token=token)
    )
    assert sorted(r.status_code for r in results) == [200, 403]


async def test_many_concurrent_uses_never_exceed_the_limit(any_server: Any) -> None:
    srv = any_server
    token = (await create(srv, {"num_uses": 3, "ttl": "1h", "policies": ["default"]}))[
        "client_token"
    ]
    results = await asyncio.gather(*(srv.call("GET", LOOKUP_SELF, token=token) for _ in range(8)))
    assert sorted(r.status_code for r in results) == [200] * 3 + [403] * 5


async def test_renewal_does_not_give_back_spent_uses(any_server: Any) -> None:
    srv = any_server
    # Four uses: three spent concurrently with the renewal, one left. (With three, the last
    # use would revoke the token while the renewal is still in flight, a separate race.)
    token = (await create(srv, {"num_uses": 4, "ttl": "1h", "policies": ["default"]}))[
        "client_token"
    ]
    results = await asyncio.gather(
        srv.call("POST", "/v1/auth/token/renew-self", token=token, json={"increment": "2h"}),
        srv.call("GET", LOOKUP_SELF, token=token),
        srv.call("GET", LOOKUP_SELF, token=token),
    )
    assert [r.status_code for r in results] == [200, 200, 200]
    last = await srv.call("GET", LOOKUP_SELF, token=token)
    assert last.status_code == 200 and last.json()["data"]["num_uses"] == -1
    assert (await srv.call("GET", LOOKUP_SELF, token=token)).json() == DENIED


# -- bound CIDRs -------------------------------------------------------------------------------


async def bound_token(srv: Any, cidrs: list[str]) -> tuple[str, TokenEntry]:
    entry = TokenEntry(
        accessor=random_id(24),
        policies=["default"],
        display_name="token",
        path="auth/token/create",
        creation_time=srv.clock.now(),
        bound_cidrs=cidrs,
    )
    return await srv.runtime.tokens.create(entry), entry


async def test_bound_cidrs_are_enforced_on_every_use(any_server: Any) -> None:
    srv = any_server
    token, _ = await bound_token(srv, ["10.0.0.0/8", "192.168.1.7"])
    inside = await srv.client_from("10.1.2.3")
    also_inside = await srv.client_from("192.168.1.7")
    outside = await srv.client_from("192.168.1.8")
    for _ in range(2):
        resp = await srv.call("GET", LOOKUP_SELF, token=token, client=inside)
        assert resp.status_code == 200
        data = resp.json()["data"]
        assert data["bound_cidrs"] == ["10.0.0.0/8", "192.168.1.7"]
        assert list(data)[:2] == ["accessor", "bound_cidrs"]
        assert (
            await srv.call("GET", LOOKUP_SELF, token=token, client=also_inside)
        ).status_code == 200
        resp = await srv.call("GET", LOOKUP_SELF, token=token, client=outside)
        assert resp.status_code == 403
        assert resp.json() == DENIED
        # The default test client is 127.0.0.1: outside as well.
        assert (await srv.call("GET", LOOKUP_SELF, token=token)).status_code == 403


async def test_bound_cidrs_ipv6(server: Any) -> None:
    token, _ = await bound_token(server, ["2001:db8::/32"])
    inside = await server.client_from("2001:db8::1")
    outside = await server.client_from("2001:db9::1")
    assert (await server.call("GET", LOOKUP_SELF, token=token, client=inside)).status_code == 200
    assert (await server.call("GET", LOOKUP_SELF, token=token, client=outside)).status_code == 403


# -- expiry ------------------------------------------------------------------------------------


async def test_expired_token_is_403(any_server: Any) -> None:
    srv = any_server
    token = (await create(srv, {"ttl": "10s", "policies": ["default"]}))["client_token"]
    srv.clock.advance(9)
    resp = await srv.call("GET", LOOKUP_SELF, token=token)
    assert resp.status_code == 200
    assert resp.json()["data"]["ttl"] == 1
    srv.clock.advance(1)
    resp = await srv.call("GET", LOOKUP_SELF, token=token)
    assert resp.status_code == 403
    assert resp.json() == DENIED
    resp = await srv.call("POST", "/v1/auth/token/lookup", json={"token": token})
    assert resp.json() == {"errors": ["bad token"]}


async def test_sweeper_removes_expired_tokens_only(any_server: Any) -> None:
    srv = any_server
    short = await create(srv, {"ttl": "10s", "policies": ["a"]})
    long = await create(srv, {"ttl": "1h", "policies": ["a"]})
    forever = await create(srv)
    store = srv.runtime.tokens
    short_hash = store.hash(short["client_token"])
    before = await token_keys(srv)
    assert any(short_hash in k for k in before)
    assert await store.sweep_expired() == 0
    assert await token_keys(srv) == before

    srv.clock.advance(11)
    assert await store.sweep_expired() == 1
    after = await token_keys(srv)
    assert not any(short_hash in k for k in after)
    assert not any(short["accessor"] in k for k in after)
    assert sorted(after) == sorted(
        k for k in before if short_hash not in k and short["accessor"] not in k
    )
    for auth in (long, forever):
        assert (await srv.call("GET", LOOKUP_SELF, token=auth["client_token"])).status_code == 200
    assert await store.sweep_expired() == 0


async def test_sweeper_revokes_the_children_of_an_expired_parent(server: Any) -> None:
    parent = await create(server, {"ttl": "10s", "policies": ["root"]})
    child = await create(server, {"ttl": "1h"}, token=parent["client_token"])
    server.clock.advance(11)
    assert await server.runtime.tokens.sweep_expired() == 1
    resp = await server.call("POST", "/v1/auth/token/lookup", json={"token": child["client_token"]})
    assert resp.json() == {"errors": ["bad token"]}


async def test_children_die_with_an_expired_parent_before_any_sweep(server: Any) -> None:
    parent = await create(server, {"ttl": "10s", "policies": ["root"]})
    child = await create(server, {"ttl": "1h"}, token=parent["client_token"])
    assert (await server.call("GET", LOOKUP_SELF, token=child["client_token"])).status_code == 200
    server.clock.advance(11)  # no sweep has run
    resp = await server.call("GET", LOOKUP_SELF, token=child["client_token"])
    assert resp.json() == DENIED


async def test_children_of_a_renewed_parent_live_on(server: Any) -> None:
    parent = await create(server, {"ttl": "10s", "policies": ["root"]})
    child = await create(server, {"ttl": "1h"}, token=parent["client_token"])
    renewed = await server.call(
        "POST", "/v1/auth/token/renew", json={"token": parent["client_token"], "increment": "1h"}
    )
    assert renewed.json()["auth"]["lease_duration"] == 3600
    server.clock.advance(11)  # past the parent's first expiry, within its renewed one
    assert (await server.call("GET", LOOKUP_SELF, token=child["client_token"])).status_code == 200


async def test_sweeper_skips_a_renewed_token(any_server: Any) -> None:
    srv = any_server
    auth = await create(srv, {"ttl": "10s", "policies": ["default"]})
    resp = await srv.call(
        "POST", "/v1/auth/token/renew-self", token=auth["client_token"], json={"increment": "1h"}
    )
    assert resp.json()["auth"]["lease_duration"] == 3600
    srv.clock.advance(11)
    assert await srv.runtime.tokens.sweep_expired() == 0
    assert (await srv.call("GET", LOOKUP_SELF, token=auth["client_token"])).status_code == 200
    expiry = [k for k in await token_keys(srv) if k.startswith("expiry/")]
    assert len(expiry) == 1  # the renewal's key only


async def test_storage_never_holds_the_token(any_server: Any) -> None:
    srv = any_server
    tokens = [srv.root_token]
    tokens.append((await create(srv, {"ttl": "1h"}))["client_token"])
    tokens.append((await create(srv, {"ttl": "1h", "type": "batch"}))["client_token"])
    tokens.append((await create(srv, {"ttl": "1h", "id": "custom-token-id-1234"}))["client_token"])
    keys = await srv.storage.list("")
    assert keys
    for key in keys:
        value = await srv.storage.get(key)
        assert value is not None
        for token in tokens:
            for needle in (token, token[2:]):
                assert needle not in key, key
                assert needle.encode() not in value, key


# -- renewal -----------------------------------------------------------------------------------


async def renew_self(srv: Any, token: str, body: Any = None) -> Any:
    return await srv.call("POST", "/v1/auth/token/renew-self", token=token, json=body)


async def test_renew_self_with_increment(any_server: Any) -> None:
    srv = any_server
    auth = await create(srv, {"ttl": "1h", "explicit_max_ttl": "4h", "policies": ["default"]})
    token = auth["client_token"]
    resp = await renew_self(srv, token, {"increment": "30m"})
    assert resp.status_code == 200
    body = resp.json()
    assert body["warnings"] is None
    assert body["auth"]["client_token"] == token
    assert body["auth"]["accessor"] == auth["accessor"]
    assert body["auth"]["lease_duration"] == 1800
    assert (await renew_self(srv, token, {"increment": 600})).json()["auth"][
        "lease_duration"
    ] == 600
    # No increment: the token's own TTL again.
    assert (await renew_self(srv, token)).json()["auth"]["lease_duration"] == 3600


async def test_renew_is_capped_at_explicit_max_ttl(server: Any) -> None:
    token = (
        await create(server, {"ttl": "1h", "explicit_max_ttl": "2h", "policies": ["default"]})
    )["client_token"]
    resp = await renew_self(server, token, {"increment": "100h"})
    assert resp.json()["auth"]["lease_duration"] == 7200
    assert resp.json()["warnings"] == [
        'TTL of "100h" exceeded the effective max_ttl of "2h"; TTL value is capped accordingly'
    ]
    server.clock.advance(600)
    resp = await renew_self(server, token, {"increment": "100h"})
    assert resp.json()["auth"]["lease_duration"] == 6600
    assert resp.json()["warnings"] == [
        'TTL of "100h" exceeded the effective max_ttl of "1h50m"; TTL value is capped accordingly'
    ]
    resp = await server.call("GET", LOOKUP_SELF, token=token)
    assert resp.json()["data"]["ttl"] == 6600


async def test_lookup_after_renewal_shows_the_renewal(server: Any) -> None:
    token = (await create(server, {"ttl": "1h", "policies": ["default"]}))["client_token"]
    server.clock.advance(100)
    await renew_self(server, token, {"increment": "15m"})
    data = (await server.call("GET", LOOKUP_SELF, token=token)).json()["data"]
    keys = list(data)
    assert keys == sorted(keys)
    assert data["last_renewal_time"] == 1795334638
    assert data["last_renewal"] == "2026-11-22T08:03:58Z"
    assert data["expire_time"] == "2026-11-22T08:18:58Z"
    assert data["ttl"] == 900
    assert data["creation_ttl"] == 3600


async def test_renew_by_token_and_by_accessor(any_server: Any) -> None:
    srv = any_server
    auth = await create(srv, {"ttl": "1h", "policies": ["p"]})
    resp = await srv.call(
        "POST", "/v1/auth/token/renew", json={"token": auth["client_token"], "increment": "1h"}
    )
    assert resp.json()["auth"]["client_token"] == auth["client_token"]
    assert resp.json()["auth"]["lease_duration"] == 3600
    resp = await srv.call(
        "POST",
        "/v1/auth/token/renew-accessor",
        json={"accessor": auth["accessor"], "increment": "15m"},
    )
    assert resp.status_code == 200
    block = resp.json()["auth"]
    assert block["client_token"] == ""
    assert block["accessor"] == auth["accessor"]
    assert block["lease_duration"] == 900


async def test_renew_periodic_token(server: Any) -> None:
    token = (await create(server, {"period": "1h", "policies": ["default"]}))["client_token"]
    server.clock.advance(1800)
    resp = await renew_self(server, token, {"increment": "5h"})
    assert resp.json()["auth"]["lease_duration"] == 3600
    assert (await server.call("GET", LOOKUP_SELF, token=token)).json()["data"]["ttl"] == 3600


async def test_renew_root_token_is_not_renewable(server: Any) -> None:
    resp = await renew_self(server, server.root_token, {})
    assert resp.status_code == 400
    assert resp.json() == {"errors": ["lease is not renewable"]}


async def test_renew_bad_inputs(server: Any) -> None:
    resp = await server.call("POST", "/v1/auth/token/renew", json={"token": "s.nope"})
    assert resp.status_code == 400
    resp = await server.call("POST", "/v1/auth/token/renew-accessor", json={"accessor": "nope"})
    assert resp.status_code == 400
    assert resp.json() == {"errors": ["1 error occurred:\n\t* invalid accessor\n\n"]}


# -- revocation --------------------------------------------------------------------------------


async def test_revoke_self(any_server: Any) -> None:
    srv = any_server
    token = (await create(srv, {"ttl": "1h", "policies": ["default"]}))["client_token"]
    resp = await srv.call("POST", "/v1/auth/token/revoke-self", token=token)
    assert resp.status_code == 204
    assert resp.content == b""
    assert (await srv.call("GET", LOOKUP_SELF, token=token)).json() == DENIED


async def test_revoke_accessor_twice(any_server: Any) -> None:
    srv = any_server
    auth = await create(srv, {"ttl": "1h"})
    resp = await srv.call(
        "POST", "/v1/auth/token/revoke-accessor", json={"accessor": auth["accessor"]}
    )
    assert resp.status_code == 204
    assert (await srv.call("GET", LOOKUP_SELF, token=auth["client_token"])).json() == DENIED
    resp = await srv.call(
        "POST", "/v1/auth/token/revoke-accessor", json={"accessor": auth["accessor"]}
    )
    assert resp.status_code == 200
    body = resp.json()
    assert body["data"] is None
    assert body["auth"] is None
    assert body["warnings"] == ["No token found with this accessor"]


async def test_revoke_by_token(any_server: Any) -> None:
    srv = any_server
    auth = await create(srv, {"ttl": "10m"})
    resp = await srv.call("POST", "/v1/auth/token/revoke", json={"token": auth["client_token"]})
    assert resp.status_code == 204
    assert (await srv.call("GET", LOOKUP_SELF, token=auth["client_token"])).status_code == 403
    resp = await srv.call("POST", "/v1/auth/token/revoke", json={"token": "s.nope"})
    assert resp.status_code == 204
    resp = await srv.call("POST", "/v1/auth/token/revoke", json={})
    assert resp.status_code == 400


async def test_revoking_a_parent_revokes_the_whole_tree(any_server: Any) -> None:
    srv = any_server
    parent = await create(srv, {"ttl": "10m", "policies": ["root"]})
    child = await create(srv, {"ttl": "10m", "policies": ["root"]}, token=parent["client_token"])
    grandchild = await create(srv, {"ttl": "10m"}, token=child["client_token"])
    sibling = await create(srv, {"ttl": "10m"})
    resp = await srv.call("POST", "/v1/auth/token/revoke", json={"token": parent["client_token"]})
    assert resp.status_code == 204
    for auth in (parent, child, grandchild):
        assert (await srv.call("GET", LOOKUP_SELF, token=auth["client_token"])).status_code == 403
    assert (await srv.call("GET", LOOKUP_SELF, token=sibling["client_token"])).status_code == 200
    keys = await token_keys(srv)
    store = srv.runtime.tokens
    for auth in (parent, child, grandchild):
        assert not any(store.hash(auth["client_token"]) in k for k in keys)


async def test_revoke_orphan_keeps_the_children(any_server: Any) -> None:
    srv = any_server
    parent = await create(srv, {"ttl": "10m", "policies": ["root"]})
    child = await create(
        srv, {"ttl": "10m", "policies": ["default", "x"]}, token=parent["client_token"]
    )
    assert child["orphan"] is False
    resp = await srv.call(
        "POST", "/v1/auth/token/revoke-orphan", json={"token": parent["client_token"]}
    )
    assert resp.status_code == 204
    assert (await srv.call("GET", LOOKUP_SELF, token=parent["client_token"])).status_code == 403
    resp = await srv.call("GET", LOOKUP_SELF, token=child["client_token"])
    assert resp.status_code == 200
    assert resp.json()["data"]["orphan"] is True
    assert not any(k.startswith("parent/") for k in await token_keys(srv))


async def test_a_long_chain_of_children_is_revoked(server: Any) -> None:
    first = await create(server, {"ttl": "1h", "policies": ["root"]})
    token = first["client_token"]
    for _ in range(30):
        token = (await create(server, {"ttl": "1h", "policies": ["root"]}, token=token))[
            "client_token"
        ]
    resp = await server.call("POST", "/v1/auth/token/revoke", json={"token": first["client_token"]})
    assert resp.status_code == 204
    assert (await server.call("GET", LOOKUP_SELF, token=token)).status_code == 403
    assert [k for k in await token_keys(server) if k.startswith("parent/")] == []


async def test_sweeper_ignores_a_stale_index_key(any_server: Any) -> None:
    """A crash between the steps of a renewal may leave an old expiry key behind: the sweeper
    must trust the token entry, not the index."""
    srv = any_server
    token = (await create(srv, {"ttl": "1h", "policies": ["default"]}))["client_token"]
    token_hash = srv.runtime.tokens.hash(token)
    stale = f"sys/token/expiry/{int(srv.clock.now()) - 5:012d}/{token_hash}"
    await srv.storage.put(stale, b"")
    assert await srv.runtime.tokens.sweep_expired() == 0
    assert await srv.storage.get(stale) is None
    assert (await srv.call("GET", LOOKUP_SELF, token=token)).status_code == 200


async def test_revoking_a_very_deep_tree_does_not_recurse(server: Any) -> None:
    store = server.runtime.tokens
    now = server.clock.now()
    before = await token_keys(server)
    parent = ""
    tokens = []
    for _ in range(1500):
        entry = TokenEntry(
            accessor=random_id(24),
            policies=["default"],
            display_name="token",
            path="auth/token/create",
            creation_time=now,
            parent=parent,
        )
        tokens.append(await store.create(entry))
        parent = store.hash(tokens[-1])
    await store.revoke_tree(store.hash(tokens[0]))
    assert await token_keys(server) == before
    assert (await server.call("GET", LOOKUP_SELF, token=tokens[-1])).status_code == 403


def test_random_ids_are_uniform_over_the_alphabet() -> None:
    alphabet = string.ascii_letters + string.digits
    ids = [random_id(24) for _ in range(4000)]
    assert all(len(i) == 24 and set(i) <= set(alphabet) for i in ids)
    assert len(set(ids)) == len(ids)
    counts = Counter("".join(ids))
    # 96,000 characters over 62: ~1,548 each. A modulo bias (256 % 62 = 8 values favoured)
    # would put the first 8 characters ~25% above the rest; allow +-12% for chance.
    expected = 4000 * 24 / len(alphabet)
    assert set(counts) == set(alphabet)
    assert all(abs(n - expected) < 0.12 * expected for n in counts.values()), counts
    assert random_id(7) and len(random_id(7)) == 7
