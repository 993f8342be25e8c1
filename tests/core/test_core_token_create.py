"""auth/token/create, create-orphan and the lookup family: the wire shapes of the transcripts."""

from __future__ import annotations

import re
from typing import Any

import pytest

from core.tokens.issue import rfc3339
from tests.conftest import AUTH_KEYS

CREATE = "/v1/auth/token/create"
LOOKUP_KEYS = [
    "accessor",
    "creation_time",
    "creation_ttl",
    "display_name",
    "entity_id",
    "expire_time",
    "explicit_max_ttl",
    "id",
    "issue_time",
    "meta",
    "num_uses",
    "orphan",
    "path",
    "policies",
    "renewable",
    "ttl",
    "type",
]
SERVICE_TOKEN = re.compile(r"^s\.[A-Za-z0-9]{24}$")
ACCESSOR = re.compile(r"^[A-Za-z0-9]{24}$")
# START_TIME of the test clock, as Go prints it.
ISSUED = "2026-11-22T08:02:18Z"


async def create(srv: Any, body: dict[str, Any] | None = None, path: str = CREATE) -> Any:
    resp = await srv.call("POST", path, json=body or {})
    assert resp.status_code == 200, resp.text
    return resp.json()


async def lookup(srv: Any, token: str) -> dict[str, Any]:
    resp = await srv.call("POST", "/v1/auth/token/lookup", json={"token": token})
    assert resp.status_code == 200, resp.text
    data: dict[str, Any] = resp.json()["data"]
    return data


async def test_create_child_with_everything(server: Any) -> None:
    body = await create(
        server,
        {
            "policies": ["approle-reader", "dev"],
            "ttl": "1h",
            "num_uses": 5,
            "explicit_max_ttl": "2h",
            "display_name": "my-child",
            "meta": {"team": "a"},
            "renewable": True,
        },
    )
    auth = body["auth"]
    assert list(auth) == AUTH_KEYS
    assert SERVICE_TOKEN.match(auth["client_token"])
    assert ACCESSOR.match(auth["accessor"])
    assert auth["policies"] == auth["token_policies"] == ["approle-reader", "default", "dev"]
    assert auth["metadata"] == {"team": "a"}
    assert auth["lease_duration"] == 3600
    assert auth["renewable"] is True
    assert auth["entity_id"] == ""
    assert auth["token_type"] == "service"
    assert auth["orphan"] is False
    assert auth["mfa_requirement"] is None
    assert auth["num_uses"] == 5

    data = await lookup(server, auth["client_token"])
    assert list(data) == LOOKUP_KEYS
    assert data == {
        "accessor": auth["accessor"],
        "creation_time": 1795334538,
        "creation_ttl": 3600,
        "display_name": "token-my-child",
        "entity_id": "",
        "expire_time": "2026-11-22T09:02:18Z",
        "explicit_max_ttl": 7200,
        "id": auth["client_token"],
        "issue_time": ISSUED,
        "meta": {"team": "a"},
        "num_uses": 5,  # a lookup by someone else spends none of the token's uses
        "orphan": False,
        "path": "auth/token/create",
        "policies": ["approle-reader", "default", "dev"],
        "renewable": True,
        "ttl": 3600,
        "type": "service",
    }


def test_times_print_as_go_prints_them() -> None:
    assert rfc3339(1795334538.0) == "2026-11-22T08:02:18Z"
    assert rfc3339(1795334538.5) == "2026-11-22T08:02:18.5Z"
    assert rfc3339(1795334538.25) == "2026-11-22T08:02:18.25Z"


async def test_lookup_ttl_counts_down_with_the_clock(server: Any) -> None:
    token = (await create(server, {"ttl": "10m", "policies": ["a"]}))["auth"]["client_token"]
    server.clock.advance(61)
    data = await lookup(server, token)
    assert data["ttl"] == 539
    assert data["creation_ttl"] == 600


async def test_tokens_are_unique_and_well_formed(server: Any) -> None:
    seen = set()
    for _ in range(20):
        auth = (await create(server, {"ttl": "1m"}))["auth"]
        assert SERVICE_TOKEN.match(auth["client_token"])
        seen.add(auth["client_token"])
        seen.add(auth["accessor"])
    assert len(seen) == 40


async def test_create_orphan_does_not_split_commas(server: Any) -> None:
    auth = (
        await create(server, {"ttl": "10m", "policies": "p1,p2"}, "/v1/auth/token/create-orphan")
    )["auth"]
    assert auth["policies"] == ["default", "p1,p2"]
    assert auth["orphan"] is True
    assert auth["lease_duration"] == 600
    data = await lookup(server, auth["client_token"])
    assert data["orphan"] is True
    assert data["path"] == "auth/token/create"


async def test_no_parent_makes_an_orphan(server: Any) -> None:
    auth = (await create(server, {"ttl": "10m", "no_parent": True}))["auth"]
    assert auth["orphan"] is True
    assert (await lookup(server, auth["client_token"]))["orphan"] is True


async def test_child_of_root_without_ttl_never_expires(server: Any) -> None:
    auth = (await create(server))["auth"]
    assert auth["policies"] == ["root"]
    assert auth["lease_duration"] == 0
    assert auth["renewable"] is False
    assert auth["orphan"] is False
    data = await lookup(server, auth["client_token"])
    assert data["expire_time"] is None
    assert data["ttl"] == 0
    assert data["renewable"] is False


async def test_non_root_policies_without_ttl_get_the_mount_default(server: Any) -> None:
    auth = (await create(server, {"policies": ["dev"]}))["auth"]
    assert auth["lease_duration"] == 768 * 3600
    assert auth["renewable"] is True


async def test_policies_are_sanitized(server: Any) -> None:
    auth = (await create(server, {"ttl": "1m", "policies": [" Dev ", "dev", "b", ""]}))["auth"]
    assert auth["policies"] == ["b", "default", "dev"]
    auth = (await create(server, {"ttl": "1m", "policies": ["dev", "ROOT"]}))["auth"]
    assert auth["policies"] == ["root"]
    auth = (await create(server, {"ttl": "1m", "policies": ["dev"], "no_default_policy": True}))[
        "auth"
    ]
    assert auth["policies"] == ["dev"]


async def test_display_name_is_sanitized_like_vault(server: Any) -> None:
    token = (await create(server, {"ttl": "1m", "display_name": "My App!"}))["auth"]["client_token"]
    assert (await lookup(server, token))["display_name"] == "token-My-App"
    token = (await create(server, {"ttl": "1m"}))["auth"]["client_token"]
    assert (await lookup(server, token))["display_name"] == "token"


async def test_periodic_token(server: Any) -> None:
    auth = (await create(server, {"period": "1h", "policies": ["dev"]}))["auth"]
    assert auth["lease_duration"] == 3600
    data = await lookup(server, auth["client_token"])
    keys = list(data)
    assert keys.index("period") == keys.index("path") + 1
    assert data["period"] == 3600


async def test_explicit_max_ttl_caps_the_first_lease(server: Any) -> None:
    body = await create(server, {"ttl": "2h", "explicit_max_ttl": "30m", "policies": ["a"]})
    assert body["auth"]["lease_duration"] == 1800
    assert body["warnings"] == [
        'Policy "a" does not exist',
        'TTL of "2h" exceeded the effective max_ttl of "30m"; TTL value is capped accordingly',
    ]


async def test_batch_token(server: Any) -> None:
    body = await create(server, {"type": "batch", "ttl": "10m", "policies": ["dev"]})
    auth = body["auth"]
    assert list(auth) == AUTH_KEYS
    assert auth["client_token"].startswith("b.")
    assert auth["accessor"] == ""
    assert auth["renewable"] is False
    assert auth["token_type"] == "batch"
    assert auth["lease_duration"] == 600
    resp = await server.call("GET", "/v1/auth/token/lookup-self", token=auth["client_token"])
    assert resp.status_code == 200
    data = resp.json()["data"]
    assert data["accessor"] == ""
    assert data["type"] == "batch"
    assert data["renewable"] is False
    resp = await server.call("POST", "/v1/auth/token/renew-self", token=auth["client_token"])
    assert resp.status_code == 400
    assert resp.json() == {"errors": ["batch tokens cannot be renewed"]}
    resp = await server.call("POST", "/v1/auth/token/renew", json={"token": auth["client_token"]})
    assert resp.json() == {"errors": ["batch tokens cannot be renewed"]}


@pytest.mark.parametrize(
    "body",
    [
        {"type": "batch", "period": "1h"},
        {"type": "batch", "num_uses": 2},
        {"type": "nonsense"},
        {"num_uses": -1},
    ],
)
async def test_invalid_create_is_400(server: Any, body: dict[str, Any]) -> None:
    resp = await server.call("POST", CREATE, json=body)
    assert resp.status_code == 400
    assert len(resp.json()["errors"]) == 1


async def test_negative_num_uses_message(server: Any) -> None:
    resp = await server.call("POST", CREATE, json={"num_uses": -1})
    assert resp.json() == {"errors": ["number of uses cannot be negative"]}


async def test_explicit_id_by_root(server: Any) -> None:
    auth = (await create(server, {"id": "my-explicit-token-id", "ttl": "10m"}))["auth"]
    assert auth["client_token"] == "my-explicit-token-id"
    resp = await server.call("GET", "/v1/auth/token/lookup-self", token="my-explicit-token-id")
    assert resp.status_code == 200
    assert resp.json()["data"]["id"] == "my-explicit-token-id"
    again = await server.call("POST", CREATE, json={"id": "my-explicit-token-id"})
    assert again.status_code == 400


async def test_not_renewable(server: Any) -> None:
    auth = (await create(server, {"ttl": "1h", "renewable": False, "policies": ["a"]}))["auth"]
    assert auth["renewable"] is False
    resp = await server.call("POST", "/v1/auth/token/renew", json={"token": auth["client_token"]})
    assert resp.status_code == 400
    assert resp.json() == {"errors": ["lease is not renewable"]}


# -- lookup family --------------------------------------------------------------------------


async def test_root_lookup_self(server: Any) -> None:
    for headers in ({}, {"X-Vault-Request": "true"}):
        resp = await server.call("GET", "/v1/auth/token/lookup-self", headers=headers)
        data = resp.json()["data"]
        assert list(data) == LOOKUP_KEYS
        assert data["id"] == server.root_token
        assert data["policies"] == ["root"]
        assert data["expire_time"] is None
        assert (data["ttl"], data["creation_ttl"], data["explicit_max_ttl"]) == (0, 0, 0)
        assert data["meta"] is None
        assert data["entity_id"] == ""
        assert data["orphan"] is True
        assert data["renewable"] is False
        assert data["type"] == "service"
        assert ACCESSOR.match(data["accessor"])


async def test_lookup_without_token_field_looks_up_the_caller(server: Any) -> None:
    resp = await server.call("POST", "/v1/auth/token/lookup", json={})
    assert resp.status_code == 200
    assert resp.json()["data"]["id"] == server.root_token


async def test_lookup_by_get_with_query(server: Any) -> None:
    token = (await create(server, {"ttl": "1m"}))["auth"]["client_token"]
    resp = await server.call("GET", "/v1/auth/token/lookup", params={"token": token})
    assert resp.status_code == 200
    assert resp.json()["data"]["id"] == token


async def test_lookup_bad_token_is_403_bad_token(server: Any) -> None:
    resp = await server.call("POST", "/v1/auth/token/lookup", json={"token": "s.doesnotexist"})
    assert resp.status_code == 403
    assert resp.json() == {"errors": ["bad token"]}


async def test_lookup_accessor(server: Any) -> None:
    auth = (await create(server, {"ttl": "30m", "policies": ["x"], "meta": {"k": "v"}}))["auth"]
    resp = await server.call(
        "POST", "/v1/auth/token/lookup-accessor", json={"accessor": auth["accessor"]}
    )
    assert resp.status_code == 200
    data = resp.json()["data"]
    assert list(data) == LOOKUP_KEYS
    assert data["id"] == ""
    assert data["accessor"] == auth["accessor"]
    assert data["meta"] == {"k": "v"}
    assert data["ttl"] == 1800


@pytest.mark.parametrize("accessor", ["nope", "a/b", "../id"])
async def test_lookup_invalid_accessor(server: Any, accessor: str) -> None:
    resp = await server.call("POST", "/v1/auth/token/lookup-accessor", json={"accessor": accessor})
    assert resp.status_code == 400
    assert resp.json() == {"errors": ["1 error occurred:\n\t* invalid accessor\n\n"]}


async def test_lookup_accessor_of_expired_token_is_invalid(server: Any) -> None:
    auth = (await create(server, {"ttl": "10s"}))["auth"]
    server.clock.advance(11)
    resp = await server.call(
        "POST", "/v1/auth/token/lookup-accessor", json={"accessor": auth["accessor"]}
    )
    assert resp.status_code == 400


async def test_list_accessors(server: Any) -> None:
    root = (await server.call("GET", "/v1/auth/token/lookup-self")).json()["data"]["accessor"]
    made = [(await create(server, {"ttl": "1h"}))["auth"]["accessor"] for _ in range(3)]
    batch = await create(server, {"ttl": "1h", "type": "batch"})
    resp = await server.call("LIST", "/v1/auth/token/accessors")
    assert resp.status_code == 200
    keys = resp.json()["data"]["keys"]
    assert sorted(keys) == sorted([root, *made])
    assert batch["auth"]["accessor"] not in keys


async def test_the_vault_cli_token_create_body_gets_no_warning(server: Any) -> None:
    # `vault token create` / `bao token create` always send entity_alias (and these flags).
    body = await create(
        server,
        {
            "policies": ["default"],
            "ttl": "1h",
            "entity_alias": "",
            "renewable": True,
            "no_parent": False,
            "no_default_policy": False,
            "type": "service",
        },
    )
    assert body["warnings"] is None
    assert body["auth"]["lease_duration"] == 3600
