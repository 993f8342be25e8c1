"""Universal Auth on the Infisical face: the AppRole plugin's second face (one principal, one
set of secrets, one lockout counter for both)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Server
from tests.infisical.conftest import Face, assert_error

BASE = "auth/universal-auth"


@pytest.fixture
def face(srv: Server) -> Face:
    """The face over the AppRole mount of `srv`, on each storage backend (secrets, lockouts and
    tokens live in the storage)."""
    return Face(srv)


async def attach(face: Face, **body: Any) -> tuple[str, dict[str, Any]]:
    identity = await face.identity(policies=["default"])
    got = await face.call("POST", f"{BASE}/identities/{identity['id']}", json=body)
    assert got.status_code == 200, got.text
    config: dict[str, Any] = got.json()["identityUniversalAuth"]
    return identity["id"], config


async def new_secret(face: Face, identity: str, **body: Any) -> dict[str, Any]:
    got = await face.call("POST", f"{BASE}/identities/{identity}/client-secrets", json=body)
    assert got.status_code == 200, got.text
    data: dict[str, Any] = got.json()
    return data


async def login(face: Face, client_id: str, secret: str, **kw: Any) -> Any:
    return await face.call(
        "POST",
        f"{BASE}/login",
        token=None,
        json={"clientId": client_id, "clientSecret": secret},
        **kw,
    )


async def test_attach_secret_login_and_token_use(face: Face) -> None:
    identity, config = await attach(face)
    assert len(config["clientId"]) == 36 and config["identityId"] == identity
    assert config["clientSecretTrustedIps"] == [
        {"ipAddress": "0.0.0.0", "type": "ipv4", "prefix": 0},
        {"ipAddress": "::", "type": "ipv6", "prefix": 0},
    ]
    assert (config["lockoutEnabled"], config["lockoutThreshold"]) == (True, 3)
    made = await new_secret(face, identity, description=" ci ", numUsesLimit=2, ttl=3600)
    secret, data = made["clientSecret"], made["clientSecretData"]
    assert len(secret) == 64 and data["clientSecretPrefix"] == secret[:4]
    assert (data["description"], data["clientSecretNumUsesLimit"], data["clientSecretTTL"]) == (
        "ci",
        2,
        3600,
    )
    assert data["identityUAId"] == config["id"] and data["isClientSecretRevoked"] is False
    got = await login(face, config["clientId"], secret)
    assert got.status_code == 200, got.text
    body = got.json()
    assert list(body) == ["accessToken", "expiresIn", "accessTokenMaxTTL", "tokenType"]
    assert body["tokenType"] == "Bearer" and body["expiresIn"] == 2_592_000
    me = await face.call("GET", f"identities/{identity}", token=body["accessToken"])
    assert me.status_code in (200, 403)  # a real token: authenticated (policy decides)
    listed = await face.call("GET", f"{BASE}/identities/{identity}/client-secrets")
    (entry,) = listed.json()["clientSecretData"]
    assert entry["clientSecretNumUses"] == 1
    assert (await login(face, config["clientId"], secret)).status_code == 200
    used_up = await login(face, config["clientId"], secret)
    assert assert_error(used_up, 401, "UnauthorizedError") == (
        "Access denied due to client secret usage limit reached"
    )
    listed = await face.call("GET", f"{BASE}/identities/{identity}/client-secrets")
    assert listed.json() == {"clientSecretData": []}


async def test_failures_are_invalid_credentials(face: Face) -> None:
    identity, config = await attach(face)
    secret = (await new_secret(face, identity))["clientSecret"]
    for client_id, value in ((config["clientId"], "0" * 64), ("nope", secret)):
        message = assert_error(await login(face, client_id, value), 401, "UnauthorizedError")
        assert message == "Invalid credentials"
    missing = await face.call("POST", f"{BASE}/login", token=None, json={"clientId": "x"})
    assert_error(missing, 422, "ValidationFailure")
    # An expired secret is just invalid (nothing says it was once right).
    short = (await new_secret(face, identity, ttl=5))["clientSecret"]
    face.server.clock.advance(6)
    assert assert_error(await login(face, config["clientId"], short), 401, "UnauthorizedError") == (
        "Invalid credentials"
    )


async def test_lockout_and_trusted_ips(face: Face) -> None:
    identity, config = await attach(
        face,
        clientSecretTrustedIps=[{"ipAddress": "127.0.0.0/8"}],
        lockoutThreshold=2,
        lockoutDurationSeconds=60,
    )
    secret = (await new_secret(face, identity))["clientSecret"]
    outside = await face.server.client_from("10.1.2.3")
    far = await login(face, config["clientId"], secret, client=outside)
    assert assert_error(far, 403, "ForbiddenError").startswith("You are not allowed")
    for _ in range(2):
        await login(face, config["clientId"], "f" * 64)
    locked = await login(face, config["clientId"], secret)
    assert assert_error(locked, 401, "UnauthorizedError") == (
        "This identity auth method is temporarily locked, please try again later"
    )
    face.server.clock.advance(61)
    assert (await login(face, config["clientId"], secret)).status_code == 200
    bad = await face.call(
        "POST", f"{BASE}/identities/{identity}/client-secrets", json={"numUsesLimit": -1}
    )
    assert_error(bad, 422, "ValidationFailure")


async def test_revoke_secret_and_detach(face: Face) -> None:
    identity, config = await attach(face)
    first = await new_secret(face, identity)
    second = await new_secret(face, identity)
    sid = first["clientSecretData"]["id"]
    got = await face.call("GET", f"{BASE}/identities/{identity}/client-secrets/{sid}")
    assert got.json()["clientSecretData"]["id"] == sid
    revoked = await face.call("POST", f"{BASE}/identities/{identity}/client-secrets/{sid}/revoke")
    assert revoked.json()["clientSecretData"]["isClientSecretRevoked"] is True
    assert (await login(face, config["clientId"], first["clientSecret"])).status_code == 401
    gone = await face.call("GET", f"{BASE}/identities/{identity}/client-secrets/{sid}")
    assert_error(gone, 404, "NotFound")
    # The same principal on the Vault face: the clientId is the role ID.
    vault = await face.server.call(
        "POST",
        "/v1/auth/approle/login",
        token=None,
        json={"role_id": config["clientId"], "secret_id": second["clientSecret"]},
    )
    assert vault.status_code == 200
    assert vault.json()["auth"]["metadata"]["role_name"] == f"ua-{identity}"
    detached = await face.call("DELETE", f"{BASE}/identities/{identity}")
    assert detached.status_code == 200
    assert (await login(face, config["clientId"], second["clientSecret"])).status_code == 401
    vault_after = await face.server.call(
        "POST",
        "/v1/auth/approle/login",
        token=None,
        json={"role_id": config["clientId"], "secret_id": second["clientSecret"]},
    )
    assert vault_after.status_code == 400


async def test_one_use_client_secret_race(face: Face) -> None:
    identity, config = await attach(face)
    secret = (await new_secret(face, identity, numUsesLimit=1))["clientSecret"]
    results = await asyncio.gather(*[login(face, config["clientId"], secret) for _ in range(20)])
    assert sorted(r.status_code for r in results) == [200] + [401] * 19


async def test_login_audit_entry_hashes_the_client_secret(face: Face, tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    device = {"type": "file", "options": {"file_path": str(log)}}
    assert (await face.server.call("PUT", "/v1/sys/audit/file", json=device)).status_code == 204
    identity, config = await attach(face)
    secret = (await new_secret(face, identity))["clientSecret"]
    answer = await login(face, config["clientId"], secret)
    assert answer.status_code == 200, answer.text
    hashed = await face.server.call("POST", "/v1/sys/audit-hash/file", json={"input": secret})
    logged = [json.loads(line) for line in log.read_text().splitlines()]
    # The secret is hashed where it was made (the create's answer) and where it was used.
    made = [e for e in logged if e["request"]["path"].endswith("/client-secrets")]
    assert made[1]["response"]["data"]["clientSecret"] == hashed.json()["data"]["hash"]
    request, response = (e for e in logged if e["request"]["path"] == f"api/v1/{BASE}/login")
    assert request["request"]["data"]["clientSecret"] == hashed.json()["data"]["hash"]
    assert request["request"]["mount_type"] == "approle"
    assert response["auth"]["metadata"]["identity_id"] == identity
    text = log.read_text()
    assert secret not in text and answer.json()["accessToken"] not in text
