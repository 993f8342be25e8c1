"""Token roles: `auth/token/roles/<name>` and `auth/token/create/<role>` with Vault's rules
(spec vault-operability §4, recorded from OpenBao 2.7.2)."""

from __future__ import annotations

from typing import Any

from tests.conftest import CLIENT_IP

ROLES = "/v1/auth/token/roles"


async def write_role(srv: Any, name: str, **body: Any) -> Any:
    resp = await srv.call("POST", f"{ROLES}/{name}", json=body)
    assert resp.status_code in (200, 204), resp.text
    return resp


async def create(srv: Any, role: str, token: str | None = None, **body: Any) -> Any:
    kwargs: dict[str, Any] = {"json": body}
    if token is not None:
        kwargs["token"] = token
    return await srv.call("POST", f"/v1/auth/token/create/{role}", **kwargs)


async def lookup(srv: Any, token: str) -> dict[str, Any]:
    resp = await srv.call("POST", "/v1/auth/token/lookup", json={"token": token})
    assert resp.status_code == 200, resp.text
    data: dict[str, Any] = resp.json()["data"]
    return data


async def test_role_crud_and_read_shape(server: Any) -> None:
    assert (await server.call("LIST", ROLES)).status_code == 404  # none yet: {"errors":[]}
    await write_role(
        server,
        "app",
        allowed_policies="reader",
        disallowed_policies=["Admin"],
        orphan=True,
        path_suffix="prod-v1",
        token_bound_cidrs=["127.0.0.1/32"],
        token_explicit_max_ttl="2h",
        token_type="service",
    )
    resp = await server.call("GET", f"{ROLES}/app")
    assert resp.status_code == 200
    assert resp.json()["data"] == {
        "allowed_entity_aliases": None,
        "allowed_policies": ["reader"],
        "allowed_policies_glob": [],
        "disallowed_policies": ["admin"],
        "disallowed_policies_glob": [],
        "explicit_max_ttl": 7200,
        "name": "app",
        "orphan": True,
        "path_suffix": "prod-v1",
        "period": 0,
        "renewable": True,
        "token_bound_cidrs": ["127.0.0.1"],
        "token_explicit_max_ttl": 7200,
        "token_no_default_policy": False,
        "token_period": 0,
        "token_type": "service",
    }
    # A partial update keeps the rest.
    await write_role(server, "app", renewable=False)
    data = (await server.call("GET", f"{ROLES}/app")).json()["data"]
    assert data["renewable"] is False and data["allowed_policies"] == ["reader"]
    await write_role(server, "globby", allowed_policies_glob="team-*")
    listed = await server.call("LIST", ROLES)
    assert listed.json()["data"]["keys"] == ["app", "globby"]
    assert (await server.call("DELETE", f"{ROLES}/globby")).status_code == 204
    assert (await server.call("GET", f"{ROLES}/globby")).status_code == 404
    assert (await server.call("GET", ROLES, params={"list": "true"})).json()["data"]["keys"] == [
        "app"
    ]


async def test_role_validation_refusals(server: Any) -> None:
    cases = [
        ({"path_suffix": "v1"}, "given role path suffix contains invalid characters"),
        ({"token_type": "default"}, "invalid 'token_type' value \"default\""),
        ({"token_type": None}, "Invalid 'token_type' value: null"),
        ({"token_type": "batch", "renewable": False}, "non-orphan tokens"),
        (
            {"token_type": "batch", "orphan": True, "renewable": False, "token_period": 60},
            "periodic tokens",
        ),
        ({"token_type": "batch", "orphan": True}, "renewable tokens"),
        (
            {"token_type": "batch", "orphan": True, "renewable": False, "explicit_max_ttl": 9},
            "tokens with an explicit max TTL",
        ),
        ({"token_bound_cidrs": "not-a-cidr"}, "invalid CIDR"),
    ]
    for body, message in cases:
        resp = await server.call("POST", f"{ROLES}/bad", json=body)
        assert resp.status_code == 400, (body, resp.text)
        assert message in resp.json()["errors"][0], (body, resp.text)
    assert (await server.call("GET", f"{ROLES}/bad")).status_code == 404
    resp = await server.call("POST", f"{ROLES}/x", json={"period": 60, "token_period": 120})
    assert resp.status_code == 200
    assert "ignoring the deprecated value" in resp.json()["warnings"][0]
    assert (await server.call("GET", f"{ROLES}/x")).json()["data"]["token_period"] == 120
    unknown = await create(server, "nope")
    assert unknown.status_code == 400 and unknown.json()["errors"] == ["unknown role nope"]


async def test_allowed_policies_rules(server: Any) -> None:
    await write_role(server, "app", allowed_policies="reader", disallowed_policies="admin")
    # No policies asked: the role's allowed ones plus default.
    got = await create(server, "app")
    assert got.status_code == 200, got.text
    auth = got.json()["auth"]
    assert auth["policies"] == ["default", "reader"]
    # Asking for a policy outside the role: refused with Vault's message.
    refused = await create(server, "app", policies=["admin"])
    assert refused.status_code == 400
    assert refused.json()["errors"] == [
        'token policies (["admin" "default"]) must be subset of the role\'s allowed policies '
        '(["default" "reader"]) or glob policies ([])'
    ]
    # A non-root caller holding none of these policies may still use the role (that is the
    # point of roles), and needs no sudo for it.
    caller = (
        await server.call("POST", "/v1/auth/token/create", json={"policies": ["default"]})
    ).json()["auth"]["client_token"]
    policy = 'path "auth/token/create/app" { capabilities = ["update"] }'
    await server.call("PUT", "/v1/sys/policies/acl/use-app", json={"policy": policy})
    user = (
        await server.call("POST", "/v1/auth/token/create", json={"policies": ["use-app"]})
    ).json()["auth"]["client_token"]
    assert caller
    minted = await create(server, "app", token=user)
    assert minted.status_code == 200, minted.text
    assert minted.json()["auth"]["policies"] == ["default", "reader"]
    entry = await lookup(server, minted.json()["auth"]["client_token"])
    assert entry["path"] == "auth/token/create/app" and entry["role"] == "app"
    assert entry["orphan"] is False


async def test_glob_and_disallowed_rules(server: Any) -> None:
    await write_role(
        server,
        "globby",
        allowed_policies_glob="team-*",
        disallowed_policies_glob="*-admin",
        token_no_default_policy=True,
    )
    ok = await create(server, "globby", policies=["team-a"])
    assert ok.status_code == 200, ok.text
    assert ok.json()["auth"]["policies"] == ["team-a"]
    assert 'Policy "team-a" does not exist' in ok.json()["warnings"]
    denied = await create(server, "globby", policies=["team-admin"])
    assert denied.status_code == 400
    assert denied.json()["errors"] == ['token policy "team-admin" is disallowed by this role']
    outside = await create(server, "globby", policies=["other"])
    assert outside.status_code == 400 and "must be subset" in outside.json()["errors"][0]
    # Only a disallow list: the parent's policies, minus nothing, checked against it.
    await write_role(server, "deny-only", disallowed_policies="root")
    refused = await create(server, "deny-only")
    assert refused.status_code == 400
    assert refused.json()["errors"] == ['token policy "root" is disallowed by this role']
    # default disallowed: it is not added.
    await write_role(server, "nodefault", allowed_policies="reader", disallowed_policies="default")
    got = await create(server, "nodefault")
    assert got.json()["auth"]["policies"] == ["reader"]


async def test_orphan_renewable_period_num_uses_ttl(server: Any) -> None:
    await write_role(
        server,
        "ci",
        allowed_policies="reader",
        orphan=True,
        renewable=False,
        token_period="1h",
        token_num_uses=3,
        path_suffix="prod-v1",
    )
    got = await create(server, "ci", renewable=True, num_uses=5)
    assert got.status_code == 200, got.text
    auth = got.json()["auth"]
    assert auth["orphan"] is True and auth["renewable"] is False
    assert auth["lease_duration"] == 3600 and auth["num_uses"] == 3
    entry = await lookup(server, auth["client_token"])
    assert entry["period"] == 3600 and entry["path"] == "auth/token/create/ci/prod-v1"
    # The smaller num_uses wins when both are set.
    fewer = (await create(server, "ci", num_uses=2)).json()["auth"]
    assert fewer["num_uses"] == 2
    await write_role(server, "capped", allowed_policies="reader", token_explicit_max_ttl="2h")
    capped = await create(server, "capped", ttl="768h")
    assert capped.json()["auth"]["lease_duration"] == 7200
    assert capped.json()["warnings"] == [
        'Policy "reader" does not exist',
        'TTL of "768h" exceeded the effective max_ttl of "2h"; TTL value is capped accordingly',
    ]
    lesser = await create(server, "capped", explicit_max_ttl="1h")
    assert lesser.json()["auth"]["lease_duration"] == 3600
    assert (
        "Explicit max TTL specified both during creation call and in role; "
        "using the lesser value of 3600 seconds" in lesser.json()["warnings"]
    )


async def test_token_type_rules(server: Any) -> None:
    await write_role(
        server,
        "batchy",
        allowed_policies="reader",
        token_type="batch",
        orphan=True,
        renewable=False,
    )
    got = (await create(server, "batchy", type="service")).json()["auth"]
    assert got["token_type"] == "batch" and got["client_token"].startswith("b.")
    await write_role(
        server,
        "either",
        allowed_policies="reader",
        token_type="default-batch",
        orphan=True,
        renewable=False,
    )
    assert (await create(server, "either")).json()["auth"]["token_type"] == "batch"
    assert (await create(server, "either", type="service")).json()["auth"][
        "token_type"
    ] == "service"


async def test_bound_cidrs_apply_to_role_tokens(server: Any) -> None:
    await write_role(server, "local", allowed_policies="default", token_bound_cidrs="10.9.0.0/16")
    token = (await create(server, "local")).json()["auth"]["client_token"]
    # The test client comes from CLIENT_IP, outside the bound range: refused.
    assert CLIENT_IP == "127.0.0.1"
    refused = await server.call("GET", "/v1/auth/token/lookup-self", token=token)
    assert refused.status_code == 403
    inside = await server.client_from("10.9.3.4")
    allowed = await server.call("GET", "/v1/auth/token/lookup-self", token=token, client=inside)
    assert allowed.status_code == 200
    assert allowed.json()["data"]["bound_cidrs"] == ["10.9.0.0/16"]


async def test_role_use_is_acl_checked(server: Any) -> None:
    await write_role(server, "app", allowed_policies="reader")
    plain = (
        await server.call("POST", "/v1/auth/token/create", json={"policies": ["default"]})
    ).json()["auth"]["client_token"]
    resp = await create(server, "app", token=plain)
    assert resp.status_code == 403
    assert (await server.call("GET", f"{ROLES}/app", token=plain)).status_code == 403
