"""The Infisical face at the server's edge: audited by the same devices as /v1/ (secrets
HMAC'd, "audit or fail"), limited by the same rate-limit quotas, and the same raw-path guard."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from core.audit import AuditFailed, AuditRecord
from core.config import AuthMountConfig
from tests.conftest import FakeClock, memory_config, start_server
from tests.infisical.conftest import Face, assert_error
from tests.infisical.fake_method import registry

LOGIN = "auth/passphrase-auth/login"
SECRET = "correct horse battery"
QUOTAS = "/v1/sys/quotas/rate-limit"


@pytest.fixture
async def face() -> AsyncIterator[Face]:
    config = memory_config()
    config.auth.append(AuthMountConfig(path="passphrase", type="passphrase"))
    async with start_server(config, registry=registry(), clock=FakeClock()) as srv:
        yield Face(srv)


async def attached_identity(face: Face) -> str:
    identity_id: str = (await face.identity(policies=["app"]))["id"]
    attached = await face.call(
        "POST", f"auth/passphrase-auth/identities/{identity_id}", json={"passphrase": SECRET}
    )
    assert attached.status_code == 200, attached.text
    return identity_id


async def login(face: Face, identity_id: str, passphrase: str = SECRET) -> Any:
    body = {"identityId": identity_id, "passphrase": passphrase}
    return await face.call("POST", LOGIN, token=None, json=body)


async def audit_hash(face: Face, device: str, value: str) -> str:
    answer = await face.server.call("POST", f"/v1/sys/audit-hash/{device}", json={"input": value})
    assert answer.status_code == 200, answer.text
    hashed: str = answer.json()["data"]["hash"]
    return hashed


def entries(log: Path, path: str) -> list[dict[str, Any]]:
    found = [json.loads(line) for line in log.read_text().splitlines()]
    return [e for e in found if e["request"]["path"] == path]


async def test_login_and_management_are_audited_with_secrets_hashed(
    face: Face, tmp_path: Path
) -> None:
    log = tmp_path / "audit.log"
    enabled = await face.server.call(
        "PUT", "/v1/sys/audit/file", json={"type": "file", "options": {"file_path": str(log)}}
    )
    assert enabled.status_code == 204, enabled.text
    identity_id = await attached_identity(face)
    answer = await login(face, identity_id)
    assert answer.status_code == 200, answer.text
    token = answer.json()["accessToken"]

    request, response = entries(log, "api/v1/" + LOGIN)
    assert (request["type"], response["type"]) == ("request", "response")
    assert request["request"]["id"] == response["request"]["id"]
    for seen in (request["request"], response["response"]):
        assert seen["mount_point"] == "auth/passphrase/" and seen["mount_class"] == "auth"
        assert seen["mount_type"] == "passphrase"
    assert request["request"]["operation"] == "update"
    assert request["request"]["remote_address"] == "127.0.0.1"
    # What the client sent and got: every string hashed with the device's salt.
    sent = request["request"]["data"]
    assert sent["passphrase"] == await audit_hash(face, "file", SECRET)
    assert sent["identityId"] == await audit_hash(face, "file", identity_id)
    token_hash = await audit_hash(face, "file", token)
    assert response["response"]["data"]["accessToken"] == token_hash
    assert response["response"]["data"]["expiresIn"] == answer.json()["expiresIn"]
    # The issued token is the entry's auth, as for a /v1/ login: hashed token, clear metadata.
    issued = response["auth"]
    assert issued["client_token"] == token_hash == response["response"]["auth"]["client_token"]
    assert issued["accessor"].startswith("hmac-sha256:")
    assert issued["policies"] == ["app", "default"]
    assert issued["metadata"]["identity_id"] == identity_id
    assert issued["metadata"]["auth_method"] == "passphrase-auth"
    text = log.read_text()
    assert token not in text and SECRET not in text

    # A management route: the caller's token hashed, the ACL's verdict, the capability.
    attach, attached = entries(log, f"api/v1/auth/passphrase-auth/identities/{identity_id}")
    assert attach["request"]["operation"] == "create"
    assert attach["auth"]["client_token"] == await audit_hash(face, "file", "root-test")
    assert attached["auth"]["policy_results"] == {"allowed": True}
    assert "root-test" not in text

    # A refused login: Vault's outer error for logins, the message hashed.
    refused = await login(face, identity_id, "wrong passphrase")
    assert_error(refused, 401, "UnauthorizedError")
    _, failed = entries(log, "api/v1/" + LOGIN)[2:]
    assert failed["error"] == "invalid credentials"
    assert failed["response"]["data"]["error"] == await audit_hash(
        face, "file", "Invalid credentials"
    )
    # Renew and revoke carry the token in the body: hashed there too.
    renewed = await face.call("POST", "auth/token/renew", token=None, json={"accessToken": token})
    assert renewed.status_code == 200, renewed.text
    renew_request, renew_response = entries(log, "api/v1/auth/token/renew")
    assert renew_request["request"]["data"]["accessToken"] == token_hash
    assert renew_response["response"]["data"]["accessToken"] == token_hash
    assert token not in log.read_text()


async def test_no_audit_device_able_to_write_means_nothing_is_done(face: Face) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    identity_id = await attached_identity(face)
    enabled = await face.server.call(
        "PUT",
        "/v1/sys/audit/sock",
        json={"type": "socket", "options": {"address": f"127.0.0.1:{port}"}},
    )
    assert enabled.status_code == 204, enabled.text
    listener.accept()[0].close()
    listener.close()
    # The login is refused before the method runs: 500 in Infisical's shape, no token.
    tokens_before = await face.server.runtime.tokens.accessors()
    assert_error(await login(face, identity_id), 500, "InternalServerError")
    assert await face.server.runtime.tokens.accessors() == tokens_before
    # Nor is a management request executed.
    created = await face.call("POST", "identities", json={"name": "unaudited"})
    assert_error(created, 500, "InternalServerError")
    assert_error(await face.call("GET", "identities"), 500, "InternalServerError")
    # The listener comes back: the same requests go through and are audited.
    revived = socket.socket()
    revived.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    revived.bind(("127.0.0.1", port))
    revived.listen()
    try:
        listed = await face.call("GET", "identities")
        assert listed.status_code == 200, listed.text
        assert [i["name"] for i in listed.json()["identities"]] == ["ci"]
        assert (await login(face, identity_id)).status_code == 200
        conn, _ = revived.accept()
        conn.settimeout(5)
        received = b""
        while received.count(b"\n") < 4:
            received += conn.recv(65536)
        paths = [json.loads(line)["request"]["path"] for line in received.splitlines()]
        assert paths == ["api/v1/identities"] * 2 + ["api/v1/" + LOGIN] * 2
        conn.close()
    finally:
        revived.close()


async def test_an_answer_that_cannot_be_audited_is_withheld(
    face: Face, monkeypatch: pytest.MonkeyPatch
) -> None:
    identity_id = await attached_identity(face)

    async def broken(record: AuditRecord) -> None:
        raise AuditFailed(log_detail="no audit device succeeded in logging the response")

    monkeypatch.setattr(face.server.runtime.audit, "log_response", broken)
    # The login ran (as in Vault), but its token never reaches the client.
    withheld = await login(face, identity_id)
    assert_error(withheld, 500, "InternalServerError")
    assert "accessToken" not in withheld.text


async def set_quota(face: Face, name: str, **body: Any) -> None:
    written = await face.server.call("POST", f"{QUOTAS}/{name}", json=body)
    assert written.status_code == 204, written.text


async def test_a_global_quota_refuses_infisical_logins_with_infisicals_429(face: Face) -> None:
    identity_id = await attached_identity(face)
    await set_quota(face, "global", rate=3)  # 3 requests per second per client
    headers = {"enable_rate_limit_response_headers": True}
    assert (await face.server.call("POST", "/v1/sys/quotas/config", json=headers)).is_success
    # The config write above was the first of this second's 3; the two faces share the count.
    first = await login(face, identity_id)
    assert first.status_code == 200, first.text
    assert first.headers["X-Ratelimit-Limit"] == "3"
    assert first.headers["X-Ratelimit-Remaining"] == "1"
    assert (await face.server.call("GET", "/v1/sys/auth")).status_code == 200
    refused = await login(face, identity_id)
    message = assert_error(refused, 429, "RateLimitExceeded")
    assert message == "Rate limit exceeded. Please try again in 1 seconds"
    assert refused.headers["Retry-After"] == "1"
    assert refused.headers["X-Ratelimit-Remaining"] == "0"
    assert refused.headers["X-Ratelimit-Reset"] == "1"
    # A refused login never reaches the method: a wrong passphrase is refused the same way.
    assert_error(await login(face, identity_id, "wrong passphrase"), 429, "RateLimitExceeded")
    # The Vault face is refused by the same quota, in Vault's shape.
    vault = await face.server.call("GET", "/v1/sys/auth")
    assert vault.status_code == 429 and vault.json()["errors"][0].endswith("quota exceeded")
    # Headers off: the Infisical 429 still says when to come back (Infisical always does).
    face.server.clock.advance(1)
    assert (await face.server.call("POST", "/v1/sys/quotas/config", json={})).status_code == 204
    assert (await login(face, identity_id)).status_code == 200
    assert "X-Ratelimit-Limit" not in (await face.call("GET", "identities")).headers
    plain = await login(face, identity_id)
    assert_error(plain, 429, "RateLimitExceeded")
    assert plain.headers["Retry-After"] == "1" and "X-Ratelimit-Limit" not in plain.headers
    # The next second: logins go through again.
    face.server.clock.advance(1)
    assert (await login(face, identity_id)).status_code == 200


async def test_mount_and_login_path_quotas_cover_the_infisical_login(
    face: Face, tmp_path: Path
) -> None:
    identity_id = await attached_identity(face)
    await set_quota(face, "logins", path="auth/passphrase/login", rate=1, interval="1h")
    assert (await login(face, identity_id)).status_code == 200
    assert_error(await login(face, identity_id), 429, "RateLimitExceeded")
    # Management routes are not the mount's: only a global quota covers them.
    for _ in range(3):
        assert (await face.call("GET", f"auth/passphrase-auth/identities/{identity_id}")).is_success
    await face.server.call("DELETE", f"{QUOTAS}/logins")
    await set_quota(face, "mount", path="auth/passphrase", rate=1, interval="1h")
    assert (await login(face, identity_id)).status_code == 200
    refused = await login(face, identity_id)
    assert int(assert_error(refused, 429, "RateLimitExceeded").split()[-2]) > 3000
    assert int(refused.headers["Retry-After"]) > 3000
    # With audit logging of refusals: one request entry, the quota's wording, clear path.
    log = tmp_path / "audit.log"
    await face.server.call(
        "PUT", "/v1/sys/audit/file", json={"type": "file", "options": {"file_path": str(log)}}
    )
    config = {"enable_rate_limit_audit_logging": True}
    assert (await face.server.call("POST", "/v1/sys/quotas/config", json=config)).is_success
    assert_error(await login(face, identity_id), 429, "RateLimitExceeded")
    (logged,) = entries(log, "api/v1/" + LOGIN)
    assert logged["type"] == "request"
    assert logged["error"] == (
        'request path "api/v1/auth/passphrase-auth/login": rate limit quota exceeded'
    )
    # Exempt paths are matched against the Infisical path too.
    config = {"rate_limit_exempt_paths": ["api/v1/auth/passphrase-auth/"]}
    assert (await face.server.call("POST", "/v1/sys/quotas/config", json=config)).is_success
    assert (await login(face, identity_id)).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/identities%09",
        "/api/v1/auth/passphrase-auth/lo%0d%0agin",
        "/api/v1/ident\x1bities",
        "/api/v1/identities%C2%85",
    ],
)
async def test_control_characters_in_the_path_are_refused(face: Face, path: str) -> None:
    answer = await face.server.raw("POST", path, body=b"{}")
    assert answer.status == 400, answer.body
    body = json.loads(answer.body)
    assert body["error"] == "BadRequest" and body["statusCode"] == 400
    assert body["message"] == "the request path contains a control character"


async def test_infisical_logins_are_counted_with_the_v1_ones(face: Face) -> None:
    identity_id = await attached_identity(face)
    assert (await login(face, identity_id)).status_code == 200
    assert (await login(face, identity_id)).status_code == 200
    scrape = await face.server.call("GET", "/v1/sys/metrics", params={"format": "prometheus"})
    created = [
        line
        for line in scrape.text.splitlines()
        if line.startswith("vault_token_creation{") and 'auth_method="passphrase"' in line
    ]
    assert len(created) == 1 and created[0].endswith(" 2.0"), created
    assert 'mount_point="auth/passphrase/"' in created[0]
    assert "vault_core_handle_login_request_count 2.0" in scrape.text
