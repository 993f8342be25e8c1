"""ACL enforcement over HTTP with non-root tokens: the AliCloud plugin's paths and sys paths,
every rule kind and their precedence, sudo paths, parameter constraints, use limits, child
tokens, policy changes reaching live tokens (also across two servers on one database), and
the OpenAPI document filtered by the caller (transcripts §4, records 152-168, and 234)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from core.config import AuthMountConfig, Config, StorageConfig
from core.registry import default_registry
from plugins.alicloud.signer import sign_get_caller_identity
from tests.alicloud.conftest import ROLE, StartEmulator, start_emulator  # noqa: F401
from tests.conftest import FakeClock, Server, backend_config, start_server

DENIED = {"errors": ["1 error occurred:\n\t* permission denied\n\n"]}  # a valid token, refused
BAD_TOKEN = {"errors": ["permission denied"]}  # no usable token at all
ROLE_ARN = "acs:ram::1234567890123456:role/dev-role"

READER = """
# read-only on AliCloud roles
path "auth/alicloud/role/*" {
  capabilities = ["read", "list"]
}
"""
ROLE_ADMIN = """
path "auth/alicloud/role/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}
path "auth/alicloud/roles" {
  capabilities = ["list"]
}
path "sys/mounts/auth/alicloud/tune" {
  capabilities = ["read"]
}
"""


@contextlib.asynccontextmanager
async def alicloud(
    *,
    sts_url: str = "http://127.0.0.1:9",  # nothing listens there: role CRUD never calls STS
    storage: StorageConfig | None = None,
    clock: FakeClock | None = None,
) -> AsyncIterator[Server]:
    config = Config(storage=storage or StorageConfig(backend="memory"))
    config.auth.append(
        AuthMountConfig(path="alicloud", type="alicloud", config={"sts_endpoint": sts_url})
    )
    registry = default_registry(include_entry_points=False)
    async with start_server(config, registry=registry, clock=clock) as srv:
        yield srv


@pytest.fixture
async def srv() -> AsyncIterator[Server]:
    async with alicloud() as server:
        yield server


async def put_policy(srv: Server, name: str, text: str, *, token: str | None = None) -> None:
    response = await srv.call(
        "PUT",
        f"/v1/sys/policies/acl/{name}",
        json={"policy": text},
        token=token or srv.root_token,
    )
    assert response.status_code == 204, response.text


async def new_token(srv: Server, *policies: str, token: str | None = None, **body: Any) -> str:
    """A token with these policies (plus `default` unless no_default_policy=True)."""
    response = await srv.call(
        "POST",
        "/v1/auth/token/create",
        json={"policies": list(policies), **body},
        token=token or srv.root_token,
    )
    assert response.status_code == 200, response.text
    client_token: str = response.json()["auth"]["client_token"]
    return client_token


async def make_role(srv: Server, name: str, **fields: Any) -> None:
    body = {"arn": ROLE_ARN, "token_policies": "dev", **fields}
    response = await srv.call("POST", f"/v1/auth/alicloud/role/{name}", json=body)
    assert response.status_code in (200, 204), response.text


async def status(srv: Server, method: str, path: str, token: str, body: Any = None) -> int:
    response = await srv.call(method, path, token=token, json=body)
    if response.status_code == 403:
        # Every refusal of a valid token has Vault's multierror shape.
        assert response.json() == DENIED, (method, path, response.text)
    return response.status_code


async def role_policies(srv: Server, name: str) -> list[str]:
    response = await srv.call("GET", f"/v1/auth/alicloud/role/{name}")
    assert response.status_code == 200, response.text
    policies: list[str] = response.json()["data"]["token_policies"]
    return policies


# -- records 152-168 on the AliCloud mount -------------------------------------------------------


async def test_reader_reads_and_lists_roles_and_nothing_else(srv: Server) -> None:
    await put_policy(srv, "reader", READER)
    await make_role(srv, "dev")
    await make_role(srv, "ops")
    reader = await new_token(srv, "reader", no_default_policy=True)  # record 152

    read = await srv.call("GET", "/v1/auth/alicloud/role/dev", token=reader)  # record 153
    assert read.status_code == 200
    assert read.json()["data"]["arn"] == ROLE_ARN
    for method, path in [
        ("LIST", "/v1/auth/alicloud/role"),
        ("GET", "/v1/auth/alicloud/role?list=true"),
    ]:
        listed = await srv.call(method, path, token=reader)  # record 154: role/* grants LIST
        assert listed.status_code == 200, listed.text
        assert listed.json()["data"] == {"keys": ["dev", "ops"]}

    assert await status(srv, "POST", "/v1/auth/alicloud/role/r9", reader, {"arn": ROLE_ARN}) == 403
    assert await status(srv, "PUT", "/v1/auth/alicloud/role/dev", reader, {"token_ttl": 60}) == 403
    assert await status(srv, "DELETE", "/v1/auth/alicloud/role/dev", reader) == 403  # record 156
    assert await status(srv, "GET", "/v1/sys/auth", reader) == 403  # records 157, 167
    assert await status(srv, "POST", "/v1/sys/auth/x", reader, {"type": "alicloud"}) == 403
    assert await status(srv, "LIST", "/v1/auth/alicloud/roles", reader) == 403  # another path
    assert await status(srv, "GET", "/v1/auth/token/lookup-self", reader) == 403  # record 158

    # Record 159: the ACL is checked before the route, so a path without a grant is 403 even
    # where no handler exists; root learns it is unsupported.
    assert await status(srv, "GET", "/v1/auth/alicloud/nope", reader) == 403
    root_view = await srv.call("GET", "/v1/auth/alicloud/nope")
    assert (root_view.status_code, root_view.json()) == (
        404,
        {"errors": ["1 error occurred:\n\t* unsupported path\n\n"]},
    )
    # Record 160: an allowed path with nothing there is 404 {"errors":[]}.
    missing = await srv.call("GET", "/v1/auth/alicloud/role/missing", token=reader)
    assert (missing.status_code, missing.json()) == (404, {"errors": []})
    # A wrong verb on an allowed path is still refused by the ACL first (no create there).
    assert await status(srv, "POST", "/v1/auth/alicloud/role", reader, {}) == 403

    assert (await role_policies(srv, "dev")) == ["dev"]  # nothing was changed


async def test_role_admin_manages_roles_but_not_auth_methods(srv: Server) -> None:
    await put_policy(srv, "role-admin", ROLE_ADMIN)
    admin = await new_token(srv, "role-admin")  # record 163: with `default`

    created = await srv.call(
        "POST", "/v1/auth/alicloud/role/r-admin", token=admin, json={"arn": ROLE_ARN}
    )
    assert created.status_code == 204, created.text  # record 164
    updated = await srv.call(
        "POST", "/v1/auth/alicloud/role/r-admin", token=admin, json={"token_ttl": "1h"}
    )
    assert updated.status_code == 204
    assert (await srv.call("GET", "/v1/auth/alicloud/role/r-admin", token=admin)).json()["data"][
        "token_ttl"
    ] == 3600
    for path in ("/v1/auth/alicloud/role", "/v1/auth/alicloud/roles"):
        listed = await srv.call("LIST", path, token=admin)  # record 165
        assert (listed.status_code, listed.json()["data"]) == (200, {"keys": ["r-admin"]})
    tune = await srv.call("GET", "/v1/sys/mounts/auth/alicloud/tune", token=admin)
    assert tune.status_code == 200
    lookup = await srv.call("GET", "/v1/auth/token/lookup-self", token=admin)  # record 166
    assert lookup.status_code == 200
    assert lookup.json()["data"]["policies"] == ["default", "role-admin"]

    assert await status(srv, "GET", "/v1/sys/auth", admin) == 403  # record 167
    assert await status(srv, "POST", "/v1/sys/auth/x", admin, {"type": "alicloud"}) == 403  # 168
    assert await status(srv, "DELETE", "/v1/sys/auth/alicloud", admin) == 403
    assert await status(srv, "GET", "/v1/sys/auth/alicloud/tune", admin) == 403  # needs sudo
    assert await status(srv, "POST", "/v1/sys/mounts/auth/alicloud/tune", admin, {}) == 403
    assert await status(srv, "PUT", "/v1/sys/policies/acl/x", admin, {"policy": READER}) == 403

    deleted = await srv.call("DELETE", "/v1/auth/alicloud/role/r-admin", token=admin)
    assert deleted.status_code == 204
    assert (await srv.call("GET", "/v1/auth/alicloud/role/r-admin")).status_code == 404


async def test_tokens_from_an_alicloud_login_are_held_to_their_policies(
    start_emulator: StartEmulator,  # noqa: F811
) -> None:
    clock = FakeClock(datetime.now(UTC).timestamp())
    emulator = await start_emulator(clock=lambda: datetime.fromtimestamp(clock.now(), UTC))
    async with alicloud(sts_url=emulator.url, clock=clock) as srv:
        await put_policy(srv, "reader", READER)
        await make_role(srv, "dev", token_policies="reader")
        signed = sign_get_caller_identity(
            ROLE.access_key_id,
            ROLE.access_key_secret,
            region="cn-hangzhou",
            security_token=ROLE.security_token,
            method="POST",
            timestamp=datetime.fromtimestamp(clock.now(), UTC),
        )
        login = await srv.call(
            "POST",
            "/v1/auth/alicloud/login",
            token=None,
            json={"role": "dev", **signed.login_data()},
        )
        assert login.status_code == 200, login.text
        auth = login.json()["auth"]
        assert auth["policies"] == ["default", "reader"]
        holder = auth["client_token"]
        assert (
            await srv.call("GET", "/v1/auth/alicloud/role/dev", token=holder)
        ).status_code == 200
        assert await status(srv, "DELETE", "/v1/auth/alicloud/role/dev", holder) == 403
        assert await status(srv, "GET", "/v1/sys/auth", holder) == 403
        assert (
            await srv.call("GET", "/v1/auth/token/lookup-self", token=holder)
        ).status_code == 200


# -- rule kinds and precedence -------------------------------------------------------------------


async def test_deny_on_the_same_path_in_another_policy_wins(srv: Server) -> None:
    await make_role(srv, "dev")
    await put_policy(srv, "reader", READER)
    await put_policy(srv, "no-roles", 'path "auth/alicloud/role/*" { capabilities = ["deny"] }')
    both = await new_token(srv, "reader", "no-roles")
    assert await status(srv, "GET", "/v1/auth/alicloud/role/dev", both) == 403
    assert await status(srv, "LIST", "/v1/auth/alicloud/role", both) == 403
    # Without the deny the same token shape reads.
    reader = await new_token(srv, "reader")
    assert await status(srv, "GET", "/v1/auth/alicloud/role/dev", reader) == 200


async def test_capabilities_on_the_same_path_are_unioned(srv: Server) -> None:
    await put_policy(srv, "can-read", 'path "auth/alicloud/role/*" { capabilities = ["read"] }')
    await put_policy(
        srv, "can-write", 'path "auth/alicloud/role/*" { capabilities = ["create", "update"] }'
    )
    writer = await new_token(srv, "can-write")
    assert await status(srv, "POST", "/v1/auth/alicloud/role/dev", writer, {"arn": ROLE_ARN}) == 204
    assert await status(srv, "GET", "/v1/auth/alicloud/role/dev", writer) == 403
    both = await new_token(srv, "can-read", "can-write")
    assert await status(srv, "POST", "/v1/auth/alicloud/role/dev", both, {"token_ttl": 9}) == 204
    assert await status(srv, "GET", "/v1/auth/alicloud/role/dev", both) == 200
    assert await status(srv, "DELETE", "/v1/auth/alicloud/role/dev", both) == 403


async def test_create_and_update_follow_the_existence_check(srv: Server) -> None:
    await put_policy(
        srv, "create-only", 'path "auth/alicloud/role/*" { capabilities = ["create"] }'
    )
    creator = await new_token(srv, "create-only")
    assert (
        await status(srv, "POST", "/v1/auth/alicloud/role/new", creator, {"arn": ROLE_ARN}) == 204
    )
    # The role exists now: the same write is an update, which the policy does not grant.
    assert await status(srv, "POST", "/v1/auth/alicloud/role/new", creator, {"token_ttl": 5}) == 403


async def test_an_exact_rule_beats_any_glob_even_a_deny(srv: Server) -> None:
    await make_role(srv, "dev")
    await make_role(srv, "prod")
    policy = (
        'path "auth/alicloud/role/*" { capabilities = ["read", "update", "delete"] }\n'
        'path "auth/alicloud/role/prod" { capabilities = ["deny"] }\n'
        'path "auth/alicloud/role/keep" { capabilities = ["read"] }\n'
    )
    await put_policy(srv, "guarded", policy)
    holder = await new_token(srv, "guarded")
    assert await status(srv, "GET", "/v1/auth/alicloud/role/dev", holder) == 200
    assert await status(srv, "GET", "/v1/auth/alicloud/role/prod", holder) == 403
    assert await status(srv, "DELETE", "/v1/auth/alicloud/role/prod", holder) == 403
    assert await status(srv, "POST", "/v1/auth/alicloud/role/prod", holder, {"token_ttl": 1}) == 403
    assert (await srv.call("GET", "/v1/auth/alicloud/role/prod")).status_code == 200

    await make_role(srv, "keep")
    # The exact rule grants only read, and the glob's update/delete do not add to it.
    assert await status(srv, "GET", "/v1/auth/alicloud/role/keep", holder) == 200
    assert await status(srv, "DELETE", "/v1/auth/alicloud/role/keep", holder) == 403

    glob_deny = (
        'path "auth/alicloud/role/*" { capabilities = ["deny"] }\n'
        'path "auth/alicloud/role/dev" { capabilities = ["read"] }\n'
    )
    await put_policy(srv, "only-dev", glob_deny)
    only_dev = await new_token(srv, "only-dev")
    assert await status(srv, "GET", "/v1/auth/alicloud/role/dev", only_dev) == 200
    assert await status(srv, "GET", "/v1/auth/alicloud/role/prod", only_dev) == 403


async def test_the_most_specific_glob_decides_alone(srv: Server) -> None:
    await make_role(srv, "team-a")
    await make_role(srv, "dev")
    policy = (
        'path "auth/alicloud/role/*" { capabilities = ["read", "list"] }\n'
        'path "auth/alicloud/role/team-*" { capabilities = ["update"] }\n'
    )
    await put_policy(srv, "teams", policy)
    holder = await new_token(srv, "teams")
    # `role/team-*` is the longer prefix: it alone decides for team-a, so no read there.
    assert await status(srv, "GET", "/v1/auth/alicloud/role/team-a", holder) == 403
    assert (
        await status(srv, "POST", "/v1/auth/alicloud/role/team-a", holder, {"token_ttl": 7}) == 204
    )
    assert await status(srv, "GET", "/v1/auth/alicloud/role/dev", holder) == 200
    assert await status(srv, "POST", "/v1/auth/alicloud/role/dev", holder, {"token_ttl": 7}) == 403
    assert await status(srv, "LIST", "/v1/auth/alicloud/role", holder) == 200


async def test_plus_matches_one_segment_and_ranks_below_a_later_wildcard(srv: Server) -> None:
    enabled = await srv.call(
        "POST",
        "/v1/sys/auth/ali2",
        json={"type": "alicloud", "options": {"sts_endpoint": "http://127.0.0.1:9"}},
    )
    assert enabled.status_code == 204, enabled.text
    enabled = await srv.call(
        "POST",
        "/v1/sys/auth/team/ali",
        json={"type": "alicloud", "options": {"sts_endpoint": "http://127.0.0.1:9"}},
    )
    assert enabled.status_code == 204, enabled.text
    for mount in ("alicloud", "ali2", "team/ali"):
        response = await srv.call("POST", f"/v1/auth/{mount}/role/dev", json={"arn": ROLE_ARN})
        assert response.status_code == 204, response.text
    policy = (
        'path "auth/+/role/+" { capabilities = ["read"] }\n'
        'path "auth/alicloud/*" { capabilities = ["list"] }\n'
    )
    await put_policy(srv, "plus", policy)
    holder = await new_token(srv, "plus")
    # Only `auth/+/role/+` matches: one segment per `+`.
    assert await status(srv, "GET", "/v1/auth/ali2/role/dev", holder) == 200
    assert await status(srv, "POST", "/v1/auth/ali2/role/dev", holder, {"token_ttl": 1}) == 403
    assert await status(srv, "GET", "/v1/auth/team/ali/role/dev", holder) == 403
    assert await status(srv, "LIST", "/v1/auth/ali2/role", holder) == 403  # `role/` != `role/+`
    # Both match auth/alicloud/role/dev; `auth/alicloud/*` has its first wildcard later, so it
    # decides (Vault's precedence) and it grants no read.
    assert await status(srv, "GET", "/v1/auth/alicloud/role/dev", holder) == 403
    assert await status(srv, "LIST", "/v1/auth/alicloud/role", holder) == 200


async def test_an_exact_rule_on_the_collection_grants_list(srv: Server) -> None:
    await make_role(srv, "dev")
    await put_policy(srv, "lister", 'path "auth/alicloud/role" { capabilities = ["list"] }')
    holder = await new_token(srv, "lister")
    assert await status(srv, "LIST", "/v1/auth/alicloud/role", holder) == 200
    assert await status(srv, "GET", "/v1/auth/alicloud/role?list=true", holder) == 200
    assert await status(srv, "GET", "/v1/auth/alicloud/role/dev", holder) == 403
    # `list` on an item's glob is no read of the item.
    await put_policy(srv, "list-glob", 'path "auth/alicloud/role/*" { capabilities = ["list"] }')
    glob = await new_token(srv, "list-glob")
    assert await status(srv, "LIST", "/v1/auth/alicloud/role", glob) == 200
    assert await status(srv, "GET", "/v1/auth/alicloud/role/dev", glob) == 403


async def test_deprecated_policy_shorthand(srv: Server) -> None:
    await make_role(srv, "dev")
    await put_policy(srv, "old-read", 'path "auth/alicloud/role/*" { policy = "read" }')
    holder = await new_token(srv, "old-read")
    assert await status(srv, "GET", "/v1/auth/alicloud/role/dev", holder) == 200
    assert await status(srv, "LIST", "/v1/auth/alicloud/role", holder) == 200
    assert await status(srv, "DELETE", "/v1/auth/alicloud/role/dev", holder) == 403


# -- sudo paths ----------------------------------------------------------------------------------


async def test_enabling_and_disabling_auth_methods_needs_sudo(srv: Server) -> None:
    crud = '["create", "read", "update", "delete"]'
    await put_policy(srv, "mounts", f'path "sys/auth/*" {{ capabilities = {crud} }}')
    await put_policy(
        srv, "mounts-sudo", f'path "sys/auth/*" {{ capabilities = {crud[:-1]}, "sudo"] }}'
    )
    plain = await new_token(srv, "mounts")
    sudo = await new_token(srv, "mounts-sudo")
    body = {"type": "alicloud", "options": {"sts_endpoint": "http://127.0.0.1:9"}}

    assert await status(srv, "POST", "/v1/sys/auth/x", plain, body) == 403
    assert await status(srv, "POST", "/v1/sys/auth/x", sudo, body) == 204
    assert await status(srv, "GET", "/v1/sys/auth/x", plain) == 403
    assert await status(srv, "GET", "/v1/sys/auth/x", sudo) == 200
    tune = {"default_lease_ttl": "1h"}
    assert await status(srv, "POST", "/v1/sys/auth/x/tune", plain, tune) == 403
    assert await status(srv, "POST", "/v1/sys/auth/x/tune", sudo, tune) == 204
    assert await status(srv, "GET", "/v1/sys/auth/x/tune", plain) == 403
    read = await srv.call("GET", "/v1/sys/auth/x/tune", token=sudo)
    assert (read.status_code, read.json()["data"]["default_lease_ttl"]) == (200, 3600)
    assert await status(srv, "DELETE", "/v1/sys/auth/x", plain) == 403
    assert await status(srv, "DELETE", "/v1/sys/auth/x", sudo) == 204
    # Listing the methods is not sudo-protected, but neither policy grants sys/auth itself.
    assert await status(srv, "GET", "/v1/sys/auth", sudo) == 403
    await put_policy(srv, "list-mounts", 'path "sys/auth" { capabilities = ["read"] }')
    lister = await new_token(srv, "list-mounts")
    assert await status(srv, "GET", "/v1/sys/auth", lister) == 200


async def test_sys_mounts_auth_tune_is_not_sudo_protected(srv: Server) -> None:
    # As Vault: only sys/auth/* is a root path; sys/mounts/auth/<path>/tune needs no sudo.
    await put_policy(
        srv, "tuner", 'path "sys/mounts/auth/+/tune" { capabilities = ["read", "update"] }'
    )
    tuner = await new_token(srv, "tuner")
    tune = {"max_lease_ttl": "2h"}
    assert await status(srv, "POST", "/v1/sys/mounts/auth/alicloud/tune", tuner, tune) == 204
    read = await srv.call("GET", "/v1/sys/mounts/auth/alicloud/tune", token=tuner)
    assert read.json()["data"]["max_lease_ttl"] == 7200
    assert await status(srv, "GET", "/v1/sys/auth/alicloud/tune", tuner) == 403


async def test_token_accessor_listing_and_revoke_orphan_need_sudo(srv: Server) -> None:
    await put_policy(srv, "acc", 'path "auth/token/accessors" { capabilities = ["list"] }')
    await put_policy(
        srv, "acc-sudo", 'path "auth/token/accessors" { capabilities = ["list", "sudo"] }'
    )
    plain = await new_token(srv, "acc")
    sudo = await new_token(srv, "acc-sudo")
    assert await status(srv, "LIST", "/v1/auth/token/accessors", plain) == 403
    listed = await srv.call("LIST", "/v1/auth/token/accessors", token=sudo)
    assert listed.status_code == 200
    assert len(listed.json()["data"]["keys"]) == 3  # root, plain, sudo

    victim = await new_token(srv, "default")
    await put_policy(
        srv, "orphaner", 'path "auth/token/revoke-orphan" { capabilities = ["update"] }'
    )
    await put_policy(
        srv,
        "orphaner-sudo",
        'path "auth/token/revoke-orphan" { capabilities = ["update", "sudo"] }',
    )
    without = await new_token(srv, "orphaner")
    with_sudo = await new_token(srv, "orphaner-sudo")
    assert (
        await status(srv, "POST", "/v1/auth/token/revoke-orphan", without, {"token": victim}) == 403
    )
    assert (
        await status(srv, "POST", "/v1/auth/token/revoke-orphan", with_sudo, {"token": victim})
        == 204
    )
    assert (await srv.call("GET", "/v1/auth/token/lookup-self", token=victim)).status_code == 403


# -- parameter constraints -----------------------------------------------------------------------

GUARD = """
path "auth/alicloud/role/*" {
  capabilities = ["create", "read", "update"]
  denied_parameters = {
    "token_policies" = ["admin"]
    "policies" = ["admin"]
  }
}
"""


@pytest.mark.parametrize(
    "value",
    ["admin", "dev,admin", ["dev", "admin"], "ADMIN", " admin ", "dev, admin", [["admin"]]],
)
async def test_a_denied_value_is_refused_in_every_encoding(srv: Server, value: Any) -> None:
    await make_role(srv, "dev")
    await put_policy(srv, "guard", GUARD)
    guard = await new_token(srv, "guard")
    for field in ("token_policies", "policies"):
        assert await status(srv, "POST", "/v1/auth/alicloud/role/dev", guard, {field: value}) == 403
    assert await role_policies(srv, "dev") == ["dev"]


async def test_an_allowed_value_passes_and_the_role_takes_it(srv: Server) -> None:
    await make_role(srv, "dev")
    await put_policy(srv, "guard", GUARD)
    guard = await new_token(srv, "guard")
    for value in ("ops", "dev,ops", ["ops", "dev"]):
        body = {"token_policies": value}
        assert await status(srv, "POST", "/v1/auth/alicloud/role/dev", guard, body) == 204
    assert sorted(await role_policies(srv, "dev")) == ["dev", "ops"]
    # A new role too (create), and fields the policy says nothing about.
    new = {"arn": ROLE_ARN, "token_policies": "dev", "token_ttl": "1h"}
    assert await status(srv, "POST", "/v1/auth/alicloud/role/new", guard, new) == 204


async def test_denied_value_in_form_bodies_and_case_twins(srv: Server) -> None:
    await make_role(srv, "dev")
    await put_policy(srv, "guard", GUARD)
    guard = await new_token(srv, "guard")
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    for body in (
        urlencode({"token_policies": "admin"}),
        urlencode([("token_policies", "dev"), ("token_policies", "admin")]),
        urlencode({"token_policies": "dev,admin"}),
    ):
        response = await srv.call(
            "POST", "/v1/auth/alicloud/role/dev", token=guard, content=body, headers=form
        )
        assert (response.status_code, response.json()) == (403, DENIED), body
    # A second spelling of the name in one body is checked too, whichever the handler uses.
    for raw in (
        b'{"token_policies": "admin", "TOKEN_POLICIES": "dev"}',
        b'{"TOKEN_POLICIES": "dev", "token_policies": "admin"}',
    ):
        response = await srv.call(
            "POST",
            "/v1/auth/alicloud/role/dev",
            token=guard,
            content=raw,
            headers={"Content-Type": "application/json"},
        )
        assert (response.status_code, response.json()) == (403, DENIED), raw
    assert await role_policies(srv, "dev") == ["dev"]


async def test_allowed_parameters_limit_names_and_values(srv: Server) -> None:
    await make_role(srv, "dev")
    policy = """
path "auth/alicloud/role/*" {
  capabilities = ["create", "update"]
  allowed_parameters = {
    "arn" = []
    "token_ttl" = []
    "token_policies" = ["dev", "dev-*"]
  }
}
"""
    await put_policy(srv, "allow", policy)
    holder = await new_token(srv, "allow")
    url = "/v1/auth/alicloud/role/dev"
    for ok in (
        {"token_ttl": "2h"},
        {"token_policies": "dev-web"},
        {"token_policies": ["dev", "dev-db"]},
        {"token_policies": "dev,dev-x", "token_ttl": 60},
    ):
        assert await status(srv, "POST", url, holder, ok) == 204, ok
    for refused in (
        {"token_policies": "ops"},
        {"token_policies": "dev,ops"},
        {"token_policies": ["dev", "ops"]},
        {"token_max_ttl": "1h"},  # a name not in the map
        {"policies": "dev"},  # the deprecated alias is another name
    ):
        assert await status(srv, "POST", url, holder, refused) == 403, refused
    assert await role_policies(srv, "dev") == ["dev", "dev-x"]


async def test_required_parameters(srv: Server) -> None:
    policy = """
path "auth/alicloud/role/*" {
  capabilities = ["create", "update"]
  required_parameters = ["token_ttl"]
}
"""
    await put_policy(srv, "needs-ttl", policy)
    holder = await new_token(srv, "needs-ttl")
    url = "/v1/auth/alicloud/role/dev"
    assert await status(srv, "POST", url, holder, {"arn": ROLE_ARN}) == 403
    assert await status(srv, "POST", url, holder, {"arn": ROLE_ARN, "token_ttl": None}) == 403
    assert await status(srv, "POST", url, holder, {"arn": ROLE_ARN, "token_ttl": "1h"}) == 204


async def test_parameter_rules_do_not_apply_to_delete_or_list(srv: Server) -> None:
    await make_role(srv, "dev")
    policy = """
path "auth/alicloud/role/*" {
  capabilities = ["delete", "list"]
  required_parameters = ["token_ttl"]
}
"""
    await put_policy(srv, "del", policy)
    holder = await new_token(srv, "del")
    assert await status(srv, "LIST", "/v1/auth/alicloud/role", holder) == 200
    assert await status(srv, "DELETE", "/v1/auth/alicloud/role/dev", holder) == 204


# -- use limits ----------------------------------------------------------------------------------


async def test_a_denied_request_spends_a_use(srv: Server) -> None:
    await make_role(srv, "dev")
    await put_policy(srv, "reader", READER)
    two_uses = await new_token(srv, "reader", num_uses=2)
    assert await status(srv, "DELETE", "/v1/auth/alicloud/role/dev", two_uses) == 403  # use 1
    last = await srv.call("GET", "/v1/auth/token/lookup-self", token=two_uses)  # use 2
    assert (last.status_code, last.json()["data"]["num_uses"]) == (200, -1)
    gone = await srv.call("GET", "/v1/auth/alicloud/role/dev", token=two_uses)
    assert (gone.status_code, gone.json()) == (403, BAD_TOKEN)  # used up: the plain form


async def test_a_token_used_up_by_denials_is_revoked(srv: Server) -> None:
    await put_policy(srv, "reader", READER)
    two_uses = await new_token(srv, "reader", num_uses=2)
    for _ in range(2):
        assert await status(srv, "GET", "/v1/sys/auth", two_uses) == 403
    gone = await srv.call("GET", "/v1/auth/alicloud/role/dev", token=two_uses)
    assert (gone.status_code, gone.json()) == (403, BAD_TOKEN)
    looked_up = await srv.call("POST", "/v1/auth/token/lookup", json={"token": two_uses})
    assert looked_up.status_code == 403


# -- child tokens ----------------------------------------------------------------------------------

CREATOR = 'path "auth/token/create" { capabilities = ["update"] }'
CREATOR_SUDO = 'path "auth/token/create" { capabilities = ["update", "sudo"] }'


async def create_child(srv: Server, parent: str, body: dict[str, Any]) -> Any:
    return await srv.call("POST", "/v1/auth/token/create", token=parent, json=body)


async def test_a_child_may_only_get_a_subset_of_its_parents_policies(srv: Server) -> None:
    await put_policy(srv, "creator", CREATOR)
    await put_policy(srv, "reader", READER)
    await put_policy(srv, "role-admin", ROLE_ADMIN)
    parent = await new_token(srv, "creator", "reader")

    refused = await create_child(srv, parent, {"policies": ["role-admin"], "ttl": "5m"})
    assert (refused.status_code, refused.json()) == (403, DENIED)  # record 234
    mixed = await create_child(srv, parent, {"policies": ["reader", "role-admin"]})
    assert (mixed.status_code, mixed.json()) == (403, DENIED)
    not_existing = await create_child(srv, parent, {"policies": ["ghost"]})
    assert (not_existing.status_code, not_existing.json()) == (403, DENIED)

    subset = await create_child(srv, parent, {"policies": ["reader"], "ttl": "5m"})
    assert subset.status_code == 200, subset.text
    assert subset.json()["auth"]["policies"] == ["default", "reader"]
    no_default = await create_child(
        srv, parent, {"policies": ["Reader"], "no_default_policy": True}
    )
    assert no_default.json()["auth"]["policies"] == ["reader"]
    inherited = await create_child(srv, parent, {"ttl": "5m"})
    assert inherited.json()["auth"]["policies"] == ["creator", "default", "reader"]
    assert inherited.json()["auth"]["orphan"] is False


async def test_a_parent_without_default_cannot_hand_it_out(srv: Server) -> None:
    await put_policy(srv, "creator", CREATOR)
    parent = await new_token(srv, "creator", no_default_policy=True)
    child = await create_child(srv, parent, {})
    assert child.json()["auth"]["policies"] == ["creator"]
    asked = await create_child(srv, parent, {"policies": ["creator", "default"]})
    assert (asked.status_code, asked.json()) == (403, DENIED)


async def test_orphans_and_custom_ids_need_sudo(srv: Server) -> None:
    await put_policy(srv, "creator", CREATOR)
    parent = await new_token(srv, "creator")
    orphan = await create_child(srv, parent, {"no_parent": True})
    assert (orphan.status_code, orphan.json()) == (
        400,
        {"errors": ["root or sudo privileges required to create orphan token"]},
    )
    custom = await create_child(srv, parent, {"id": "my-own-id"})
    assert (custom.status_code, custom.json()) == (
        400,
        {"errors": ["root or sudo privileges required to specify token id"]},
    )


async def test_sudo_on_create_lifts_the_subset_rule_but_not_to_root(srv: Server) -> None:
    await put_policy(srv, "creator-sudo", CREATOR_SUDO)
    await put_policy(srv, "role-admin", ROLE_ADMIN)
    parent = await new_token(srv, "creator-sudo")

    wider = await create_child(srv, parent, {"policies": ["role-admin"]})
    assert wider.status_code == 200, wider.text
    assert wider.json()["auth"]["policies"] == ["default", "role-admin"]
    ghost = await create_child(srv, parent, {"policies": ["ghost"]})
    assert ghost.status_code == 200
    assert ghost.json()["warnings"] == ['Policy "ghost" does not exist']
    orphan = await create_child(srv, parent, {"no_parent": True, "id": "sudo-made-id"})
    assert orphan.status_code == 200, orphan.text
    assert orphan.json()["auth"]["orphan"] is True
    assert orphan.json()["auth"]["client_token"] == "sudo-made-id"

    for policies in (["root"], ["root", "role-admin"]):
        root = await create_child(srv, parent, {"policies": policies})
        assert (root.status_code, root.json()) == (
            400,
            {"errors": ["root tokens may not be created without parent token being root"]},
        )
    # Root itself still may.
    made = await srv.call("POST", "/v1/auth/token/create", json={"policies": ["root"]})
    assert made.json()["auth"]["policies"] == ["root"]


async def test_create_orphan_is_its_own_path(srv: Server) -> None:
    await put_policy(srv, "creator", CREATOR)
    await put_policy(
        srv, "orphan-maker", 'path "auth/token/create-orphan" { capabilities = ["update"] }'
    )
    parent = await new_token(srv, "creator")
    assert await status(srv, "POST", "/v1/auth/token/create-orphan", parent, {}) == 403
    maker = await new_token(srv, "orphan-maker")
    made = await srv.call("POST", "/v1/auth/token/create-orphan", token=maker, json={})
    assert made.status_code == 200
    assert made.json()["auth"]["orphan"] is True
    assert made.json()["auth"]["policies"] == ["default", "orphan-maker"]


# -- policy changes reach live tokens -------------------------------------------------------------


async def test_a_policy_change_applies_to_a_live_token_at_once(srv: Server) -> None:
    await make_role(srv, "dev")
    await put_policy(srv, "live", READER)
    holder = await new_token(srv, "live")
    url = "/v1/auth/alicloud/role/dev"
    assert await status(srv, "GET", url, holder) == 200
    assert await status(srv, "DELETE", url, holder) == 403

    await put_policy(srv, "live", 'path "auth/alicloud/role/*" { capabilities = ["deny"] }')
    assert await status(srv, "GET", url, holder) == 403
    await put_policy(srv, "live", ROLE_ADMIN)
    assert await status(srv, "GET", url, holder) == 200
    assert await status(srv, "POST", url, holder, {"token_ttl": 3}) == 204
    await srv.call("DELETE", "/v1/sys/policies/acl/live")
    assert await status(srv, "GET", url, holder) == 403
    await put_policy(srv, "live", READER)  # a token's policy names outlive the policy
    assert await status(srv, "GET", url, holder) == 200


async def test_a_token_created_before_its_policy_exists_gets_it_later(srv: Server) -> None:
    await make_role(srv, "dev")
    made = await srv.call("POST", "/v1/auth/token/create", json={"policies": ["later"]})
    assert made.json()["warnings"] == ['Policy "later" does not exist']
    holder = made.json()["auth"]["client_token"]
    assert await status(srv, "GET", "/v1/auth/alicloud/role/dev", holder) == 403
    await put_policy(srv, "later", READER)
    assert await status(srv, "GET", "/v1/auth/alicloud/role/dev", holder) == 200


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_a_policy_change_reaches_another_server_on_the_same_database(
    tmp_path: Path, request: pytest.FixtureRequest, backend: str
) -> None:
    storage = (await backend_config(request, backend, tmp_path)).storage
    clock = FakeClock()
    async with (
        alicloud(storage=storage, clock=clock) as first,
        alicloud(storage=storage, clock=clock) as second,
    ):
        await make_role(first, "dev")
        await put_policy(first, "team", READER)
        holder = await new_token(first, "team")
        url = "/v1/auth/alicloud/role/dev"
        # Both processes have compiled (and cached) the token's ACL.
        assert await status(first, "GET", url, holder) == 200
        assert await status(second, "GET", url, holder) == 200
        assert await status(second, "DELETE", url, holder) == 403

        await put_policy(second, "team", 'path "auth/alicloud/role/*" { capabilities = ["deny"] }')
        assert await status(first, "GET", url, holder) == 403
        assert await status(second, "GET", url, holder) == 403

        await put_policy(first, "team", ROLE_ADMIN)
        assert await status(second, "POST", url, holder, {"token_ttl": 11}) == 204
        assert await status(first, "GET", url, holder) == 200

        await first.call("DELETE", "/v1/sys/policies/acl/team")
        assert await status(second, "GET", url, holder) == 403

        # `default` edits too.
        assert (
            await second.call("GET", "/v1/auth/token/lookup-self", token=holder)
        ).status_code == 200
        await put_policy(
            first, "default", 'path "auth/token/renew-self" { capabilities = ["update"] }'
        )
        assert await status(second, "GET", "/v1/auth/token/lookup-self", holder) == 403


# -- OpenAPI ---------------------------------------------------------------------------------------

# Without a token only sys/'s open paths: an auth mount's login path would reveal the mount.
OPEN = {
    "/sys/health",
    "/sys/seal-status",
    "/sys/leader",
    "/sys/internal/specs/openapi",
    # A wrapping token is not a token of the token store: these check it themselves.
    "/sys/wrapping/unwrap",
    "/sys/wrapping/lookup",
    "/sys/wrapping/rewrap",
}


async def openapi_paths(srv: Server, token: str | None) -> dict[str, set[str]]:
    response = await srv.call("GET", "/v1/sys/internal/specs/openapi", token=token)
    assert response.status_code == 200, response.text
    paths: dict[str, Any] = response.json()["paths"]
    verbs = {"get", "post", "delete"}
    return {path: {verb for verb in spec if verb in verbs} for path, spec in paths.items()}


async def test_openapi_lists_only_what_the_caller_may_use(srv: Server) -> None:
    assert set(await openapi_paths(srv, None)) == OPEN
    assert set(await openapi_paths(srv, "s.not-a-token")) == OPEN

    await put_policy(srv, "reader", READER)
    reader = await new_token(srv, "reader", no_default_policy=True)
    seen = await openapi_paths(srv, reader)
    assert set(seen) == OPEN | {"/auth/alicloud/role", "/auth/alicloud/role/{role}"}
    assert seen["/auth/alicloud/role/{role}"] == {"get"}  # no write, no delete
    assert seen["/auth/alicloud/role"] == {"get"}  # the LIST

    await put_policy(srv, "role-admin", ROLE_ADMIN)
    admin = await new_token(srv, "role-admin")
    seen = await openapi_paths(srv, admin)
    assert seen["/auth/alicloud/role/{role}"] == {"get", "post", "delete"}
    assert "/auth/alicloud/roles" in seen
    assert "/sys/mounts/auth/{path}/tune" not in seen  # its rule names one mount, not `{path}`
    assert "/auth/token/lookup-self" in seen  # from `default`
    assert not any(path.startswith("/sys/auth") for path in seen)
    assert "/sys/policies/acl/{name}" not in seen

    everything = await openapi_paths(srv, srv.root_token)
    assert {
        "/sys/auth",
        "/sys/auth/{path}",
        "/sys/auth/{path}/tune",
        "/sys/policies/acl/{name}",
        "/auth/token/accessors",
        "/auth/token/create",
    } <= set(everything)
    assert everything["/auth/alicloud/role/{role}"] == {"get", "post", "delete"}


async def test_openapi_does_not_spend_a_use(srv: Server) -> None:
    await put_policy(srv, "reader", READER)
    once = await new_token(srv, "reader", num_uses=1)
    for _ in range(3):
        assert "/auth/alicloud/role/{role}" in await openapi_paths(srv, once)
    assert await status(srv, "GET", "/v1/auth/token/lookup-self", once) == 200


async def test_openapi_hides_sudo_paths_from_callers_without_sudo(srv: Server) -> None:
    await put_policy(
        srv, "mounts", 'path "sys/auth/*" { capabilities = ["create", "read", "update"] }'
    )
    holder = await new_token(srv, "mounts")
    assert await status(srv, "POST", "/v1/sys/auth/x", holder, {"type": "alicloud"}) == 403
    assert "/sys/auth/{path}" not in await openapi_paths(srv, holder)


async def test_a_denied_role_cannot_be_reached_by_changing_its_case(srv: Server) -> None:
    await make_role(srv, "prod")
    policy = (
        'path "auth/alicloud/role/*" { capabilities = ["read", "delete"] }\n'
        'path "auth/alicloud/role/prod" { capabilities = ["deny"] }\n'
    )
    await put_policy(srv, "not-prod", policy)
    holder = await new_token(srv, "not-prod")
    assert await status(srv, "DELETE", "/v1/auth/alicloud/role/prod", holder) == 403
    await srv.call("DELETE", "/v1/auth/alicloud/role/PROD", token=holder)
    assert (await srv.call("GET", "/v1/auth/alicloud/role/prod")).status_code == 200


async def test_an_unknown_mount_is_denied_not_reported(srv: Server) -> None:
    await put_policy(srv, "reader", READER)
    reader = await new_token(srv, "reader")
    assert await status(srv, "GET", "/v1/auth/nomount/role/x", reader) == 403


# -- the README's two worked examples ---------------------------------------------------------

README_ROLE_ADMIN = """
path "auth/alicloud/role/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
  allowed_parameters = {
    "*"              = []
    "token_policies" = ["default", "app-*"]
    "policies"       = ["default", "app-*"]
  }
}
path "auth/alicloud/roles" {
  capabilities = ["list"]
}
path "sys/mounts/auth/alicloud/tune" {
  capabilities = ["read"]
}
"""
README_AUDITOR = """
path "auth/alicloud/role/*" { capabilities = ["read", "list"] }
path "auth/alicloud/roles" { capabilities = ["list"] }
path "sys/auth" { capabilities = ["read"] }
path "sys/policies/acl" { capabilities = ["list"] }
path "sys/policies/acl/*" { capabilities = ["read"] }
path "auth/token/lookup-accessor" { capabilities = ["update"] }
path "sys/capabilities" { capabilities = ["update"] }
path "sys/capabilities-accessor" { capabilities = ["update"] }
path "auth/token/accessors" { capabilities = ["list", "sudo"] }
"""


async def test_readme_role_administrator(srv: Server) -> None:
    await put_policy(srv, "role-admin", README_ROLE_ADMIN)
    admin = await new_token(srv, "role-admin", ttl="8h")
    web = {"arn": "acs:ram::1234567890123456:role/web", "token_policies": "app-web"}
    assert await status(srv, "POST", "/v1/auth/alicloud/role/web", admin, web) == 204
    assert await status(srv, "GET", "/v1/auth/alicloud/role/web", admin) == 200
    assert await status(srv, "LIST", "/v1/auth/alicloud/role", admin) == 200
    assert await status(srv, "LIST", "/v1/auth/alicloud/roles", admin) == 200
    assert await status(srv, "GET", "/v1/sys/mounts/auth/alicloud/tune", admin) == 200
    for refused in ("app-web,role-admin", ["default", "root"], "admin"):
        for field in ("token_policies", "policies"):
            body = {field: refused}
            assert await status(srv, "POST", "/v1/auth/alicloud/role/web", admin, body) == 403
    assert await status(srv, "POST", "/v1/sys/auth/other", admin, {"type": "alicloud"}) == 403
    assert await status(srv, "DELETE", "/v1/sys/auth/alicloud", admin) == 403
    assert await status(srv, "POST", "/v1/sys/mounts/auth/alicloud/tune", admin, {}) == 403
    assert await role_policies(srv, "web") == ["app-web"]
    assert await status(srv, "DELETE", "/v1/auth/alicloud/role/web", admin) == 204


async def test_readme_auditor(srv: Server) -> None:
    await make_role(srv, "web")
    await put_policy(srv, "auditor", README_AUDITOR)
    auditor = await new_token(srv, "auditor")
    made = await srv.call("POST", "/v1/auth/token/create", json={"policies": ["app-web"]})
    accessor = made.json()["auth"]["accessor"]

    assert await status(srv, "GET", "/v1/auth/alicloud/role/web", auditor) == 200
    assert await status(srv, "LIST", "/v1/auth/alicloud/role", auditor) == 200
    assert await status(srv, "GET", "/v1/sys/auth", auditor) == 200
    assert await status(srv, "LIST", "/v1/sys/policies/acl", auditor) == 200
    assert await status(srv, "GET", "/v1/sys/policies/acl/auditor", auditor) == 200
    assert await status(srv, "LIST", "/v1/auth/token/accessors", auditor) == 200
    looked_up = await srv.call(
        "POST", "/v1/auth/token/lookup-accessor", token=auditor, json={"accessor": accessor}
    )
    assert looked_up.json()["data"]["policies"] == ["app-web", "default"]
    caps = await srv.call(
        "POST",
        "/v1/sys/capabilities-accessor",
        token=auditor,
        json={"accessor": accessor, "paths": ["auth/token/lookup-self"]},
    )
    assert caps.json()["data"]["capabilities"] == ["read"]

    assert await status(srv, "DELETE", "/v1/auth/alicloud/role/web", auditor) == 403
    assert await status(srv, "POST", "/v1/auth/alicloud/role/web", auditor, {"token_ttl": 1}) == 403
    revoke = {"accessor": accessor}
    assert await status(srv, "POST", "/v1/auth/token/revoke-accessor", auditor, revoke) == 403
    rewrite = {"policy": README_AUDITOR}
    assert await status(srv, "PUT", "/v1/sys/policies/acl/auditor", auditor, rewrite) == 403
    assert await status(srv, "POST", "/v1/sys/auth/x", auditor, {"type": "alicloud"}) == 403
    assert await status(srv, "GET", "/v1/sys/auth/alicloud/tune", auditor) == 403
