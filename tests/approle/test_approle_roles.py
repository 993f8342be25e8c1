"""Role CRUD, role IDs and secret-ID management, with Vault's (OpenBao 2.7.2) answers."""

from __future__ import annotations

from tests.approle.conftest import login, make_role, new_secret
from tests.conftest import Server


async def test_role_defaults_read_back_as_vault(srv: Server) -> None:
    assert (await srv.call("LIST", "/v1/auth/approle/role")).json() == {"errors": []}
    await make_role(srv, "App1")
    got = await srv.call("GET", "/v1/auth/approle/role/app1")
    assert got.status_code == 200
    assert got.json()["data"] == {
        "bind_secret_id": True,
        "local_secret_ids": False,
        "secret_id_bound_cidrs": None,
        "secret_id_num_uses": 0,
        "secret_id_ttl": 0,
        "token_bound_cidrs": [],
        "token_explicit_max_ttl": 0,
        "token_max_ttl": 0,
        "token_no_default_policy": False,
        "token_num_uses": 0,
        "token_period": 0,
        "token_policies": [],
        "token_strictly_bind_ip": False,
        "token_ttl": 0,
        "token_type": "default",
    }
    listed = await srv.call("LIST", "/v1/auth/approle/role")
    assert listed.json()["data"]["keys"] == ["app1"]
    assert (await srv.call("GET", "/v1/auth/approle/role/nope")).json() == {"errors": []}


async def test_full_role_and_validation_errors(srv: Server) -> None:
    body = {
        "secret_id_bound_cidrs": ["127.0.0.0/8", "10.0.0.0/8"],
        "token_bound_cidrs": "127.0.0.1/32,10.1.0.0/16",
        "secret_id_num_uses": 10,
        "secret_id_ttl": "1h",
        "token_ttl": "20m",
        "token_max_ttl": "30m",
        "token_policies": "default,app2-read",
        "token_type": "service",
    }
    await make_role(srv, "app2", **body)
    data = (await srv.call("GET", "/v1/auth/approle/role/app2")).json()["data"]
    assert data["secret_id_bound_cidrs"] == ["127.0.0.0/8", "10.0.0.0/8"]
    assert data["token_bound_cidrs"] == ["127.0.0.1", "10.1.0.0/16"]
    assert (data["secret_id_ttl"], data["token_ttl"], data["token_max_ttl"]) == (3600, 1200, 1800)
    cases = [
        ({"bind_secret_id": False}, "at least one constraint should be enabled on the role"),
        ({"secret_id_num_uses": -1}, "secret_id_num_uses cannot be negative"),
        ({"token_type": "weird"}, "invalid 'token_type' value \"weird\""),
        (
            {"secret_id_bound_cidrs": "300.1.1.1/8"},
            "failed to validate CIDR blocks: invalid CIDR address: 300.1.1.1/8",
        ),
        (
            {"token_ttl": "2h", "token_max_ttl": "1h"},
            "'token_ttl' cannot be greater than 'token_max_ttl'",
        ),
        (
            {"token_strictly_bind_ip": True, "token_bound_cidrs": "127.0.0.1"},
            "'token_strictly_bind_ip' conflicts with 'token_bound_cidrs'; set only one",
        ),
    ]
    for fields, message in cases:
        got = await srv.call("POST", "/v1/auth/approle/role/bad", json=fields)
        assert (got.status_code, got.json()) == (400, {"errors": [message]}), fields
    changed = await srv.call("POST", "/v1/auth/approle/role/app2", json={"local_secret_ids": True})
    assert changed.json() == {
        "errors": ["local_secret_ids can only be modified during role creation"]
    }
    big = await srv.call("POST", "/v1/auth/approle/role/big", json={"token_max_ttl": "10000h"})
    assert big.status_code == 200 and "truncated" in big.json()["warnings"][0]


async def test_role_id_read_write_and_uniqueness(srv: Server) -> None:
    first = await make_role(srv, "one")
    assert len(first) == 36
    put = await srv.call(
        "POST", "/v1/auth/approle/role/one/role-id", json={"role_id": "my-custom-role-id"}
    )
    assert put.status_code == 204
    got = await srv.call("GET", "/v1/auth/approle/role/one/role-id")
    assert got.json()["data"] == {"role_id": "my-custom-role-id"}
    await make_role(srv, "two")
    clash = await srv.call(
        "POST", "/v1/auth/approle/role/two/role-id", json={"role_id": "my-custom-role-id"}
    )
    assert (clash.status_code, clash.json()) == (400, {"errors": ["role_id already in use"]})
    missing = await srv.call("POST", "/v1/auth/approle/role/one/role-id", json={})
    assert missing.json() == {"errors": ["missing role_id"]}
    # The old role ID no longer logs in; the new one does.
    secret = (await new_secret(srv, "one"))["secret_id"]
    assert (await login(srv, first, secret)).status_code == 400
    assert (await login(srv, "my-custom-role-id", secret)).status_code == 200
    # A role created with a role_id that is taken is refused too.
    taken = await srv.call(
        "POST", "/v1/auth/approle/role/three", json={"role_id": "my-custom-role-id"}
    )
    assert taken.status_code == 400
    assert (await srv.call("GET", "/v1/auth/approle/role/three")).status_code == 404


async def test_secret_id_generate_limits_and_lookup(srv: Server) -> None:
    await make_role(
        srv,
        "app2",
        secret_id_num_uses=10,
        secret_id_ttl="1h",
        secret_id_bound_cidrs="127.0.0.0/8,10.0.0.0/8",
    )
    defaults = await new_secret(srv, "app2")
    assert (defaults["secret_id_num_uses"], defaults["secret_id_ttl"]) == (10, 3600)
    errors = [
        ({"num_uses": 11}, "num_uses cannot be higher than the role's secret_id_num_uses"),
        ({"num_uses": 0}, "num_uses cannot be higher than the role's secret_id_num_uses"),
        ({"num_uses": -1}, "num_uses cannot be negative"),
        ({"ttl": "2h"}, "ttl cannot be longer than the role's secret_id_ttl"),
        (
            {"metadata": "notjson"},
            "failed to parse metadata: failed to parse the input: invalid <key,value> format",
        ),
        (
            {"metadata": '{"n":1}'},
            "failed to parse metadata: failed to parse the input: invalid <key,value> format",
        ),
        (
            {"cidr_list": "192.168.0.0/16"},
            "failed to verify subset relationship between CIDR blocks on the role "
            '["127.0.0.0/8" "10.0.0.0/8"] and CIDR blocks on the secret ID ["192.168.0.0/16"]',
        ),
    ]
    for fields, message in errors:
        got = await srv.call("POST", "/v1/auth/approle/role/app2/secret-id", json=fields)
        assert (got.status_code, got.json()) == (400, {"errors": [message]}), fields
    missing = await srv.call("POST", "/v1/auth/approle/role/nope/secret-id", json={})
    assert (missing.status_code, missing.json()) == (
        404,
        {"errors": ['role "nope" does not exist']},
    )
    made = await new_secret(
        srv,
        "app2",
        metadata='{"env":"prod","team":"core"}',
        cidr_list="127.0.0.0/8",
        token_bound_cidrs=["127.0.0.1/32"],
        num_uses=3,
        ttl="10m",
    )
    looked = await srv.call(
        "POST",
        "/v1/auth/approle/role/app2/secret-id/lookup",
        json={"secret_id": made["secret_id"]},
    )
    data = looked.json()["data"]
    assert data["metadata"] == {"env": "prod", "team": "core"}
    assert (data["secret_id_num_uses"], data["secret_id_ttl"]) == (3, 600)
    assert data["cidr_list"] == ["127.0.0.0/8"] and data["token_bound_cidrs"] == ["127.0.0.1/32"]
    assert data["creation_time"] == "2026-11-22T08:02:18Z"
    assert data["expiration_time"] == "2026-11-22T08:12:18Z"
    assert data["secret_id_accessor"] == made["secret_id_accessor"]
    by_accessor = await srv.call(
        "POST",
        "/v1/auth/approle/role/app2/secret-id-accessor/lookup",
        json={"secret_id_accessor": made["secret_id_accessor"]},
    )
    assert by_accessor.json()["data"] == data
    kv = await new_secret(srv, "app2", metadata="k1=v1,k2=v2")
    kv_data = (
        await srv.call(
            "POST",
            "/v1/auth/approle/role/app2/secret-id/lookup",
            json={"secret_id": kv["secret_id"]},
        )
    ).json()["data"]
    assert kv_data["metadata"] == {"k1": "v1", "k2": "v2"}
    assert kv_data["expiration_time"] != "0001-01-01T00:00:00Z"


async def test_unknown_lookups_and_destroy(srv: Server) -> None:
    await make_role(srv, "app")
    unknown = await srv.call(
        "POST", "/v1/auth/approle/role/app/secret-id/lookup", json={"secret_id": "nope"}
    )
    assert unknown.status_code == 204 and unknown.content == b""
    no_param = await srv.call("POST", "/v1/auth/approle/role/app/secret-id/lookup", json={})
    assert no_param.json() == {"errors": ["missing secret_id"]}
    acc = "00000000-0000-0000-0000-000000000000"
    got = await srv.call(
        "POST",
        "/v1/auth/approle/role/app/secret-id-accessor/lookup",
        json={"secret_id_accessor": acc},
    )
    assert got.status_code == 404
    assert got.json()["data"] == {
        "error": f'failed to find accessor entry for secret_id_accessor: "{acc}"'
    }
    assert (await srv.call("LIST", "/v1/auth/approle/role/app/secret-id")).status_code == 404
    nope = await srv.call("LIST", "/v1/auth/approle/role/nope/secret-id")
    assert (nope.status_code, nope.json()) == (400, {"errors": ['role "nope" does not exist']})

    a = await new_secret(srv, "app")
    b = await new_secret(srv, "app")
    keys = (await srv.call("LIST", "/v1/auth/approle/role/app/secret-id")).json()["data"]["keys"]
    assert sorted(keys) == sorted([a["secret_id_accessor"], b["secret_id_accessor"]])
    paged = await srv.call(
        "GET", "/v1/auth/approle/role/app/secret-id", params={"list": "true", "limit": "1"}
    )
    assert len(paged.json()["data"]["keys"]) == 1
    destroy = "/v1/auth/approle/role/app/secret-id/destroy"
    for _ in range(2):  # idempotent
        got = await srv.call("POST", destroy, json={"secret_id": a["secret_id"]})
        assert got.status_code == 204
    assert (await srv.call("DELETE", destroy, json={"secret_id": "x"})).json() == {
        "errors": ["missing secret_id"]
    }
    acc_destroy = "/v1/auth/approle/role/app/secret-id-accessor/destroy"
    body = {"secret_id_accessor": b["secret_id_accessor"]}
    assert (await srv.call("POST", acc_destroy, json=body)).status_code == 204
    again = await srv.call("POST", acc_destroy, json=body)
    assert again.status_code == 404 and "failed to find accessor entry" in again.text
    role_id = (await srv.call("GET", "/v1/auth/approle/role/app/role-id")).json()["data"]["role_id"]
    for gone in (a, b):
        assert (await login(srv, role_id, gone["secret_id"])).status_code == 400
    assert (await srv.call("LIST", "/v1/auth/approle/role/app/secret-id")).status_code == 404


async def test_custom_secret_ids(srv: Server) -> None:
    role_id = await make_role(srv, "app")
    path = "/v1/auth/approle/role/app/custom-secret-id"
    made = await srv.call("POST", path, json={"secret_id": "my-custom-secret-0001"})
    assert made.json()["data"]["secret_id"] == "my-custom-secret-0001"
    dup = await srv.call("POST", path, json={"secret_id": "my-custom-secret-0001"})
    assert (dup.status_code, dup.json()) == (
        400,
        {"errors": ["failed to store secret_id: SecretID is already registered"]},
    )
    assert (await srv.call("POST", path, json={})).json() == {"errors": ["missing secret_id"]}
    spaced = await srv.call("POST", path, json={"secret_id": " padded "})
    assert spaced.status_code == 400
    assert (await login(srv, role_id, "my-custom-secret-0001")).status_code == 200


async def test_secret_ids_stored_only_as_keyed_hashes(srv: Server) -> None:
    await make_role(srv, "app")
    secret = (await new_secret(srv, "app"))["secret_id"]
    await srv.call(
        "POST",
        "/v1/auth/approle/role/app/custom-secret-id",
        json={"secret_id": "custom-plaintext-marker"},
    )
    storage = srv.runtime.storage
    keys = await storage.list("")
    blob = b"".join([k.encode() for k in keys] + [await storage.get(k) or b"" for k in keys])
    assert secret.encode() not in blob and b"custom-plaintext-marker" not in blob


async def test_delete_role_destroys_its_secret_ids(srv: Server) -> None:
    role_id = await make_role(srv, "gone")
    secret = (await new_secret(srv, "gone"))["secret_id"]
    assert (await srv.call("DELETE", "/v1/auth/approle/role/gone")).status_code == 204
    assert (await srv.call("DELETE", "/v1/auth/approle/role/gone")).status_code == 204
    assert (await login(srv, role_id, secret)).json() == {"errors": ["invalid role or secret ID"]}
    await make_role(srv, "gone", role_id=role_id)
    assert (await login(srv, role_id, secret)).status_code == 400  # the old secret stays dead
    prefix = srv.runtime.storage
    leftovers = [k for k in await prefix.list("") if "/secret/gone/" in k or "/accessor/gone/" in k]
    assert leftovers == []
