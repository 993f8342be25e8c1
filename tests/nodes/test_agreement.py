"""Two real nodes started at the same instant on one empty PostgreSQL database agree on
everything, at once: tokens, revocation, use counts, login nonces, policies, roles, mounts,
tuning, and the background sweeps."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime

import httpx
import pytest

from plugins.alicloud.signer import sign_get_caller_identity
from tests.alicloud.conftest import ACCOUNT, ROLE, StartEmulator
from tests.nodes.cluster import DENIED, Node
from tests.support import pg


def create_token(node: Node, root: str, **body: object) -> dict[str, object]:
    response = node.call("POST", "auth/token/create", root, json=body)
    assert response.status_code == 200, response.text
    auth: dict[str, object] = response.json()["auth"]
    return auth


def lookup_self(node: Node, token: str) -> int:
    return node.call("GET", "auth/token/lookup-self", token).status_code


def test_one_root_token_between_them_and_a_current_schema(
    cluster: list[Node], root: str, empty_database: str
) -> None:
    a, b = cluster
    assert lookup_self(a, root) == 200 and lookup_self(b, root) == 200
    health = [node.call("GET", "sys/health").json() for node in cluster]
    assert health[0]["cluster_id"] == health[1]["cluster_id"] != ""

    async def schema() -> tuple[object, object]:
        async with pg.connected(empty_database) as conn:
            version = await conn.fetchval("SELECT version FROM wardgate_schema")
            rows = await conn.fetchval("SELECT count(*) FROM wardgate_schema")
            return version, rows

    assert asyncio.run(schema()) == (1, 1)


def test_token_minted_on_a_works_on_b_and_revoked_on_b_is_refused_by_a(
    cluster: list[Node], root: str
) -> None:
    a, b = cluster
    token = str(create_token(a, root, policies=["default"])["client_token"])
    assert lookup_self(b, token) == 200
    assert b.call("POST", "auth/token/revoke-self", token).status_code == 204
    refused = a.call("GET", "auth/token/lookup-self", token)
    assert refused.status_code == 403 and refused.json() == DENIED


def test_children_die_with_a_parent_revoked_on_the_other_node(
    cluster: list[Node], root: str
) -> None:
    a, b = cluster
    minter = 'path "auth/token/create" { capabilities = ["update"] }'
    assert (
        a.call("PUT", "sys/policies/acl/minter", root, json={"policy": minter}).status_code == 204
    )
    parent = str(create_token(a, root, policies=["minter"])["client_token"])
    child = str(create_token(a, parent)["client_token"])
    grandchild = str(create_token(b, child)["client_token"])
    assert lookup_self(a, grandchild) == 200
    assert b.call("POST", "auth/token/revoke", root, json={"token": parent}).status_code == 204
    assert [lookup_self(a, t) for t in (parent, child, grandchild)] == [403, 403, 403]


def test_a_one_use_token_is_spent_once_across_nodes(cluster: list[Node], root: str) -> None:
    a, b = cluster
    token = str(create_token(a, root, policies=["default"], num_uses=1)["client_token"])

    async def use_everywhere() -> list[int]:
        async with httpx.AsyncClient(timeout=30) as client:
            calls = [
                client.get(
                    f"{node.url}/v1/auth/token/lookup-self", headers={"X-Vault-Token": token}
                )
                for node in (a, b) * 12
            ]
            return [r.status_code for r in await asyncio.gather(*calls)]

    statuses = asyncio.run(use_everywhere())
    assert sorted(statuses) == [200] + [403] * 23, statuses


def test_policies_roles_mounts_and_tuning_apply_on_the_other_node_at_once(
    cluster: list[Node], root: str
) -> None:
    a, b = cluster
    rule = 'path "sys/auth" { capabilities = ["read"] }'
    assert a.call("PUT", "sys/policies/acl/ops", root, json={"policy": rule}).status_code == 204
    ops = str(create_token(b, root, policies=["ops"])["client_token"])
    assert b.call("GET", "sys/auth", ops).status_code == 200
    deny = 'path "sys/auth" { capabilities = ["deny"] }'
    assert b.call("PUT", "sys/policies/acl/ops", root, json={"policy": deny}).status_code == 204
    assert a.call("GET", "sys/auth", ops).status_code == 403

    enabled = a.call("POST", "sys/auth/team/ali", root, json={"type": "alicloud"})
    assert enabled.status_code == 204, enabled.text
    assert "team/ali/" in b.call("GET", "sys/auth", root).json()["data"]
    role = {"arn": f"acs:ram::{ACCOUNT}:role/dev-role", "token_policies": "ops"}
    assert b.call("POST", "auth/team/ali/role/dev", root, json=role).status_code == 204
    read = a.call("GET", "auth/team/ali/role/dev", root)
    assert read.status_code == 200 and read.json()["data"]["token_policies"] == ["ops"]

    tune = {"default_lease_ttl": "90m", "max_lease_ttl": "3h"}
    assert b.call("POST", "sys/auth/team/ali/tune", root, json=tune).status_code == 204
    tuned = a.call("GET", "sys/auth/team/ali/tune", root).json()["data"]
    assert (tuned["default_lease_ttl"], tuned["max_lease_ttl"]) == (5400, 10800)

    assert b.call("DELETE", "sys/auth/team/ali", root).status_code == 204
    assert a.call("GET", "auth/team/ali/role/dev", root).status_code in (403, 404)
    assert "team/ali/" not in a.call("GET", "sys/auth", root).json()["data"]


async def test_a_login_nonce_seen_by_a_is_refused_by_b_before_sts(
    cluster: list[Node], root: str, start_emulator: StartEmulator
) -> None:
    a, b = cluster
    sts = await start_emulator()
    async with httpx.AsyncClient(timeout=30) as client:

        async def call(node: Node, method: str, path: str, **kw: object) -> httpx.Response:
            headers = {"X-Vault-Token": root}
            return await client.request(method, f"{node.url}/v1/{path}", headers=headers, **kw)  # type: ignore[arg-type]

        mount = {"type": "alicloud", "options": {"sts_endpoint": sts.url}}
        assert (await call(a, "POST", "sys/auth/nonce-ali", json=mount)).status_code == 204
        role = {"arn": f"acs:ram::{ACCOUNT}:role/dev-role", "token_policies": "default"}
        assert (await call(b, "POST", "auth/nonce-ali/role/dev", json=role)).status_code == 204
        signed = sign_get_caller_identity(
            ROLE.access_key_id,
            ROLE.access_key_secret,
            region="cn-hangzhou",
            security_token=ROLE.security_token or None,
            method="POST",
            timestamp=datetime.now(UTC),
        )
        body = {"role": "dev", **signed.login_data()}
        first = await client.post(f"{a.url}/v1/auth/nonce-ali/login", json=body)
        assert first.status_code == 200, first.text
        again = await client.post(f"{b.url}/v1/auth/nonce-ali/login", json=body)
        assert again.status_code == 400 and "SignatureNonce" in again.json()["errors"][0]
        assert sts.state.request_count == 1
        token = first.json()["auth"]["client_token"]
        lookup = await client.get(
            f"{b.url}/v1/auth/token/lookup-self", headers={"X-Vault-Token": token}
        )
        assert lookup.status_code == 200
        assert lookup.json()["data"]["meta"]["role_name"] == "dev"


def test_expired_tokens_are_swept_once_by_one_node(cluster: list[Node], root: str) -> None:
    a = cluster[0]
    accessors = {str(create_token(a, root, ttl="1s")["accessor"]) for _ in range(12)}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        listed = a.call("LIST", "auth/token/accessors", root).json()["data"]["keys"]
        if not accessors & set(listed):
            break
        time.sleep(0.5)
    else:
        pytest.fail("expired tokens were not swept within 30 s")
    swept = [
        int(n)
        for node in cluster
        for n in re.findall(r"revoked (\d+) expired tokens", node.process.stderr())
    ]
    # Each expired token revoked exactly once, by whichever node held the sweep lock.
    assert sum(swept) == len(accessors), swept
