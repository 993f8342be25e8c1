"""The plugin interface end to end, with the `testkv` plugin of conftest.py: its paths, its
storage view, and logins through it (the auth block, TTL limits, the renew hook)."""

from __future__ import annotations

from typing import Any

import pytest

from core.framework import BadRequest
from tests.conftest import AUTH_KEYS


async def enable(srv: Any, path: str, body: dict[str, Any] | None = None) -> None:
    resp = await srv.call("POST", f"/v1/sys/auth/{path}", json={"type": "testkv", **(body or {})})
    assert resp.status_code == 204, resp.text


async def login(srv: Any, mount: str, body: dict[str, Any], **kw: Any) -> Any:
    return await srv.call("POST", f"/v1/auth/{mount}/login", token=None, json=body, **kw)


# -- paths and storage -------------------------------------------------------------------------


async def test_crud_through_the_plugin(psrv: Any) -> None:
    await enable(psrv, "kv")
    assert (await psrv.call("GET", "/v1/auth/kv/item/a")).json() == {"errors": []}
    assert (await psrv.call("LIST", "/v1/auth/kv/item")).json() == {"errors": []}
    resp = await psrv.call("POST", "/v1/auth/kv/item/a", json={"value": 7, "ttl": "1h"})
    assert resp.status_code == 204
    assert resp.content == b""
    await psrv.call("PUT", "/v1/auth/kv/item/b", json={"value": "x"})
    resp = await psrv.call("GET", "/v1/auth/kv/item/a")
    assert resp.json()["data"] == {"value": "7", "ttl": 3600, "count": 0}
    listed = await psrv.call("GET", "/v1/auth/kv/item", params={"list": "true"})
    assert listed.json()["data"] == {"keys": ["a", "b"]}
    assert (await psrv.call("LIST", "/v1/auth/kv/item/")).json()["data"] == {"keys": ["a", "b"]}
    assert (await psrv.call("DELETE", "/v1/auth/kv/item/a")).status_code == 204
    assert (await psrv.call("DELETE", "/v1/auth/kv/item/a")).status_code == 204
    assert (await psrv.call("GET", "/v1/auth/kv/item/a")).status_code == 404


async def test_plugin_paths_need_a_token(psrv: Any) -> None:
    await enable(psrv, "kv")
    for method in ("GET", "LIST"):
        resp = await psrv.call(method, "/v1/auth/kv/item/a", token=None)
        assert resp.status_code == 403
        assert resp.json() == {"errors": ["permission denied"]}


async def test_plugin_routing_errors(psrv: Any) -> None:
    await enable(psrv, "kv")
    resp = await psrv.call("GET", "/v1/auth/kv/nope")
    assert (resp.status_code, resp.json()) == (
        404,
        {"errors": ["1 error occurred:\n\t* unsupported path\n\n"]},
    )
    resp = await psrv.call("GET", "/v1/auth/kv/item")  # the collection has only LIST
    assert resp.status_code == 405
    resp = await psrv.call("LIST", "/v1/auth/kv/item/a")  # LIST on an item path
    assert resp.status_code == 404
    resp = await psrv.call("POST", "/v1/auth/kv/info")
    assert resp.status_code == 405


async def test_plugin_field_validation(psrv: Any) -> None:
    await enable(psrv, "kv")
    resp = await psrv.call("POST", "/v1/auth/kv/item/a", json={"ttl": "abc"})
    assert resp.status_code == 400
    assert resp.json() == {
        "errors": ['error converting input for field "ttl": time: invalid duration "abc"']
    }
    resp = await psrv.call("POST", "/v1/auth/kv/item/a", json={"count": "many"})
    assert resp.status_code == 400
    assert resp.json()["errors"][0].startswith('error converting input for field "count": ')
    assert (await psrv.call("GET", "/v1/auth/kv/item/a")).status_code == 404


async def test_the_path_capture_wins_over_the_body(psrv: Any) -> None:
    await enable(psrv, "kv")
    resp = await psrv.call("POST", "/v1/auth/kv/item/real", json={"name": "other", "value": "v"})
    assert resp.status_code == 204
    assert (await psrv.call("GET", "/v1/auth/kv/item/other")).status_code == 404
    resp = await psrv.call("GET", "/v1/auth/kv/item/real", params={"name": "other"})
    assert resp.json()["data"]["value"] == "v"
    assert resp.json()["warnings"] is None  # the captured name is not an unknown field


async def test_each_mount_has_its_own_storage(psrv: Any, probe: Any) -> None:
    await enable(psrv, "kv")
    await enable(psrv, "team/a/x")
    await psrv.call("POST", "/v1/auth/kv/item/same", json={"value": "top"})
    await psrv.call("POST", "/v1/auth/team/a/x/item/same", json={"value": "nested"})
    assert (await psrv.call("GET", "/v1/auth/kv/item/same")).json()["data"]["value"] == "top"
    nested = await psrv.call("GET", "/v1/auth/team/a/x/item/same")
    assert nested.json()["data"]["value"] == "nested"
    await psrv.call("POST", "/v1/auth/kv/item/only-top", json={})
    assert (await psrv.call("LIST", "/v1/auth/team/a/x/item")).json()["data"]["keys"] == ["same"]

    mounts = (await psrv.call("GET", "/v1/sys/auth")).json()["data"]
    for mount, keys in (("kv/", ["item/only-top", "item/same"]), ("team/a/x/", ["item/same"])):
        prefix = f"auth/{mounts[mount]['uuid']}/"
        assert await psrv.storage.list(prefix) == keys
    prefixes = {ctx.storage.prefix for ctx in probe.contexts}
    assert prefixes == {f"auth/{mounts[m]['uuid']}/" for m in ("kv/", "team/a/x/")}


async def test_nested_mount_knows_its_path(psrv: Any) -> None:
    await enable(psrv, "team/a/x")
    info = (await psrv.call("GET", "/v1/auth/team/a/x/info")).json()["data"]
    assert info["path"] == "team/a/x/"
    assert (await psrv.call("GET", "/v1/auth/team/a/info")).status_code == 404


async def test_mount_options_reach_the_plugin(psrv: Any) -> None:
    await enable(psrv, "kv", {"options": {"region": "eu", "secret_key": "hush"}})
    info = (await psrv.call("GET", "/v1/auth/kv/info")).json()["data"]
    assert info["config"] == {"region": "eu", "secret_key": "hush"}
    shown = (await psrv.call("GET", "/v1/sys/auth/kv")).json()["data"]["options"]
    assert shown == {"region": "eu", "secret_key": "<redacted>"}


async def test_plugin_help(psrv: Any) -> None:
    await enable(psrv, "kv")
    resp = await psrv.call("GET", "/v1/auth/kv/item/a", params={"help": "1"})
    assert resp.status_code == 200
    body = resp.json()
    assert "Request:        auth/kv/item/a" in body["help"]
    assert "One item." in body["help"]
    assert "Items are kept in the mount's own storage." in body["help"]
    assert "Operations:     delete, read, update" in body["help"]
    for field in ("value (string)", "ttl (duration)", "count (integer)"):
        assert f"    {field}" in body["help"]
    (spec,) = body["openapi"]["paths"].values()
    assert set(spec) >= {"get", "post", "delete"}
    fields = spec["post"]["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert set(fields) == {"value", "ttl", "count"}
    assert fields["ttl"]["format"] == "duration"


async def test_a_broken_plugin_handler_is_a_generic_500(psrv: Any, probe: Any) -> None:
    await enable(psrv, "kv")
    await psrv.storage.put(probe.contexts[-1].storage.prefix + "item/bad", b"not json")
    resp = await psrv.call("GET", "/v1/auth/kv/item/bad")
    assert resp.status_code == 500
    assert resp.json() == {"errors": ["internal error"]}


# -- login -------------------------------------------------------------------------------------


async def test_login_auth_block(psrv: Any) -> None:
    await enable(psrv, "kv")
    resp = await login(psrv, "kv", {"name": "alice", "policies": "B, a,,b", "ttl": "30m"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["data"] is None
    assert body["warnings"] is None
    assert (body["lease_duration"], body["renewable"]) == (0, False)
    auth = body["auth"]
    assert list(auth) == AUTH_KEYS
    assert auth["client_token"].startswith("s.") and len(auth["client_token"]) == 26
    assert auth["policies"] == auth["token_policies"] == ["a", "b", "default"]
    assert auth["metadata"] == {"name": "alice"}
    assert auth["lease_duration"] == 1800
    assert auth["renewable"] is True
    assert auth["token_type"] == "service"
    assert auth["orphan"] is True
    assert auth["num_uses"] == 0

    resp = await psrv.call("GET", "/v1/auth/token/lookup-self", token=auth["client_token"])
    data = resp.json()["data"]
    assert data["path"] == "auth/kv/login"
    assert data["display_name"] == "kv-alice"
    assert data["meta"] == {"name": "alice"}
    assert data["orphan"] is True
    assert data["policies"] == ["a", "b", "default"]
    assert data["creation_ttl"] == 1800


async def test_login_ignores_a_bad_token_header(psrv: Any) -> None:
    await enable(psrv, "kv")
    resp = await psrv.call("POST", "/v1/auth/kv/login", token="bogus", json={"name": "a"})
    assert resp.status_code == 200


async def test_login_errors_from_the_plugin(psrv: Any) -> None:
    await enable(psrv, "kv")
    resp = await login(psrv, "kv", {})
    assert (resp.status_code, resp.json()) == (400, {"errors": ["missing name"]})


async def test_nested_mount_display_name(psrv: Any) -> None:
    await enable(psrv, "team/a/x")
    auth = (await login(psrv, "team/a/x", {"name": "bob"})).json()["auth"]
    data = (
        await psrv.call("POST", "/v1/auth/token/lookup", json={"token": auth["client_token"]})
    ).json()["data"]
    assert data["display_name"] == "team-a-x-bob"
    assert data["path"] == "auth/team/a/x/login"


async def test_login_ttl_defaults_to_the_mount_default(psrv: Any) -> None:
    await enable(psrv, "kv", {"config": {"default_lease_ttl": "20m"}})
    auth = (await login(psrv, "kv", {"name": "a"})).json()["auth"]
    assert auth["lease_duration"] == 1200


async def test_login_ttl_is_capped_by_the_mount_max(psrv: Any) -> None:
    await enable(psrv, "kv", {"config": {"max_lease_ttl": "1h30m"}})
    body = (await login(psrv, "kv", {"name": "a", "ttl": "1000h"})).json()
    assert body["auth"]["lease_duration"] == 5400
    assert body["warnings"] == [
        'TTL of "1000h" exceeded the effective max_ttl of "1h30m"; TTL value is capped accordingly'
    ]


async def test_login_ttl_follows_a_tune_at_once(psrv: Any) -> None:
    await enable(psrv, "kv")
    resp = await psrv.call("POST", "/v1/sys/auth/kv/tune", json={"max_lease_ttl": "10m"})
    assert resp.status_code == 204
    body = (await login(psrv, "kv", {"name": "a"})).json()
    assert body["auth"]["lease_duration"] == 600
    assert body["warnings"] == [
        'TTL of "768h" exceeded the effective max_ttl of "10m"; TTL value is capped accordingly'
    ]


@pytest.mark.parametrize("policies", [["root"], ["dev", "ROOT"]])
async def test_login_cannot_create_root_tokens(psrv: Any, policies: list[str]) -> None:
    await enable(psrv, "kv")
    resp = await login(psrv, "kv", {"name": "a", "policies": policies})
    assert resp.status_code == 400
    assert resp.json() == {"errors": ["auth methods cannot create root tokens"]}


async def test_login_no_default_policy(psrv: Any) -> None:
    await enable(psrv, "kv")
    auth = (
        await login(psrv, "kv", {"name": "a", "policies": "p", "no_default_policy": True})
    ).json()["auth"]
    assert auth["policies"] == ["p"]


async def test_login_batch_token(psrv: Any) -> None:
    await enable(psrv, "kv")
    auth = (await login(psrv, "kv", {"name": "a", "token_type": "batch", "ttl": "5m"})).json()[
        "auth"
    ]
    assert auth["client_token"].startswith("b.")
    assert (auth["accessor"], auth["renewable"], auth["token_type"]) == ("", False, "batch")
    resp = await psrv.call("GET", "/v1/auth/token/lookup-self", token=auth["client_token"])
    assert resp.json()["data"]["path"] == "auth/kv/login"


async def test_login_num_uses(psrv: Any) -> None:
    await enable(psrv, "kv")
    auth = (await login(psrv, "kv", {"name": "a", "num_uses": 2})).json()["auth"]
    assert auth["num_uses"] == 2
    token = auth["client_token"]
    assert (await psrv.call("GET", "/v1/auth/token/lookup-self", token=token)).status_code == 200
    assert (await psrv.call("GET", "/v1/auth/token/lookup-self", token=token)).status_code == 200
    assert (await psrv.call("GET", "/v1/auth/token/lookup-self", token=token)).status_code == 403


async def test_login_bound_cidrs(psrv: Any) -> None:
    await enable(psrv, "kv")
    auth = (await login(psrv, "kv", {"name": "a", "bound_cidrs": "10.0.0.0/8"})).json()["auth"]
    token = auth["client_token"]
    inside = await psrv.client_from("10.9.9.9")
    resp = await psrv.call("GET", "/v1/auth/token/lookup-self", token=token, client=inside)
    assert resp.status_code == 200
    assert resp.json()["data"]["bound_cidrs"] == ["10.0.0.0/8"]
    resp = await psrv.call("GET", "/v1/auth/token/lookup-self", token=token)
    assert resp.status_code == 403
    assert resp.json() == {"errors": ["permission denied"]}


async def test_login_token_expires_with_the_clock(psrv: Any) -> None:
    await enable(psrv, "kv")
    token = (await login(psrv, "kv", {"name": "a", "ttl": "1m"})).json()["auth"]["client_token"]
    psrv.clock.advance(60)
    assert (await psrv.call("GET", "/v1/auth/token/lookup-self", token=token)).status_code == 403


# -- renewal through the plugin's hook ---------------------------------------------------------


async def test_renew_calls_the_plugin_hook(psrv: Any, probe: Any) -> None:
    await enable(psrv, "kv")
    auth = (await login(psrv, "kv", {"name": "carol", "ttl": "10m"})).json()["auth"]
    token = auth["client_token"]
    probe.renew_ttl = 1200  # the "role" now hands out 20 minutes
    psrv.clock.advance(60)
    resp = await psrv.call("POST", "/v1/auth/token/renew-self", token=token, json={})
    assert resp.status_code == 200, resp.text
    assert resp.json()["auth"]["lease_duration"] == 1200
    assert len(probe.renew_calls) == 1
    call = probe.renew_calls[0]
    assert call.auth.internal == {"name": "carol"}
    assert call.auth.display_name == "carol"
    assert call.mount.path == "kv/"
    # By accessor and by token, too.
    await psrv.call("POST", "/v1/auth/token/renew-accessor", json={"accessor": auth["accessor"]})
    await psrv.call("POST", "/v1/auth/token/renew", json={"token": token})
    assert len(probe.renew_calls) == 3


async def test_renew_with_an_increment_is_capped_by_the_role_max(psrv: Any, probe: Any) -> None:
    await enable(psrv, "kv")
    token = (await login(psrv, "kv", {"name": "a", "ttl": "10m", "max_ttl": "1h"})).json()["auth"][
        "client_token"
    ]
    resp = await psrv.call(
        "POST", "/v1/auth/token/renew-self", token=token, json={"increment": "100h"}
    )
    assert resp.json()["auth"]["lease_duration"] == 3600
    assert resp.json()["warnings"] == [
        'TTL of "100h" exceeded the effective max_ttl of "1h"; TTL value is capped accordingly'
    ]


async def test_a_failing_hook_fails_the_renewal(psrv: Any, probe: Any) -> None:
    await enable(psrv, "kv")
    token = (await login(psrv, "kv", {"name": "a", "ttl": "10m"})).json()["auth"]["client_token"]
    before = (await psrv.call("POST", "/v1/auth/token/lookup", json={"token": token})).json()[
        "data"
    ]
    psrv.clock.advance(120)
    probe.renew_error = BadRequest("role no longer exists")
    resp = await psrv.call("POST", "/v1/auth/token/renew-self", token=token, json={})
    assert resp.status_code == 400
    assert resp.json() == {"errors": ["role no longer exists"]}
    after = (await psrv.call("POST", "/v1/auth/token/lookup", json={"token": token})).json()["data"]
    assert after["expire_time"] == before["expire_time"]
    assert "last_renewal" not in after

    probe.renew_error = RuntimeError("plugin bug")
    resp = await psrv.call("POST", "/v1/auth/token/renew-self", token=token, json={})
    assert resp.status_code == 500
    assert resp.json() == {"errors": ["internal error"]}


async def test_disable_closes_the_backend(psrv: Any, probe: Any) -> None:
    await enable(psrv, "kv")
    assert (await psrv.call("GET", "/v1/auth/kv/info")).status_code == 200
    # Only the instance serving requests is still open (enable builds a trial one first).
    assert probe.closed == len(probe.contexts) - 1
    assert (await psrv.call("DELETE", "/v1/sys/auth/kv")).status_code == 204
    assert (await psrv.call("GET", "/v1/sys/auth")).status_code == 200  # the table is re-read
    assert probe.closed == len(probe.contexts)


async def test_disabled_mount_tokens_cannot_be_renewed(psrv: Any) -> None:
    await enable(psrv, "kv")
    token = (await login(psrv, "kv", {"name": "a", "ttl": "10m"})).json()["auth"]["client_token"]
    assert (await psrv.call("DELETE", "/v1/sys/auth/kv")).status_code == 204
    resp = await psrv.call("POST", "/v1/auth/token/renew", json={"token": token})
    assert resp.status_code == 400


async def test_login_tokens_are_not_stored_either(psrv: Any) -> None:
    await enable(psrv, "kv")
    tokens = [
        (await login(psrv, "kv", {"name": "a"})).json()["auth"]["client_token"],
        (await login(psrv, "kv", {"name": "b", "token_type": "batch"})).json()["auth"][
            "client_token"
        ],
    ]
    for key in await psrv.storage.list(""):
        value = await psrv.storage.get(key)
        for token in tokens:
            assert token[2:] not in key
            assert token[2:].encode() not in value
