"""The Infisical face on the real server: `wardgate server --config FILE` (SQLite file, real
sockets), the STS emulator on loopback, bodies signed by the independent docs-sample signer,
and Infisical's docs' Node sample (the README's copy) run by a real `node`."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.server import ServerProcess, client_env, free_port, running_server

from plugins.alicloud.emulator import Identity
from tests.alicloud.conftest import ACCOUNT, ROLE, USER, RunningEmulator, StartEmulator
from tests.alicloud.conftest import start_emulator as start_emulator  # the fixture
from tests.infisical.conftest import ERROR_KEYS, bearer
from tests.infisical.docs_sample_signer import docs_login_body
from tests.infisical.test_alicloud_face import STRANGER

ROOT_LINE = re.compile(r"^Root token: (\S+)$", re.MULTILINE)
README = Path(__file__).parents[2] / "README.md"
LOGIN = "/api/v1/auth/alicloud-auth/login"


def write_config(tmp_path: Path, port: int, sts_url: str) -> Path:
    config = tmp_path / "wardgate.toml"
    config.write_text(
        f"""
[server]
address = "127.0.0.1:{port}"

[storage]
path = "{tmp_path / "wardgate.db"}"
synchronous = "normal"

[[auth]]
path = "alicloud"
type = "alicloud"
max_lease_ttl = "24h"

[auth.config]
sts_endpoint = "{sts_url}"
timeout = 2
"""
    )
    return config


@contextmanager
def server(
    tmp_path: Path, run: str, port: int, config: Path
) -> Iterator[tuple[str, ServerProcess]]:
    log_dir = tmp_path / run
    with running_server(
        ["--config", str(config)], client_env(tmp_path), port=port, log_dir=log_dir
    ) as found:
        yield found


def body(identity_id: str, who: Identity, **extra: Any) -> dict[str, Any]:
    return docs_login_body(
        identity_id,
        who.access_key_id,
        who.access_key_secret,
        datetime.now(UTC),
        security_token=who.security_token,
        **extra,
    )


def error(response: httpx.Response, status: int, name: str) -> Any:
    assert response.status_code == status, response.text
    payload = response.json()
    assert list(payload) == ERROR_KEYS and payload["error"] == name, payload
    return payload["message"]


class Face:
    def __init__(self, http: httpx.AsyncClient, root: str) -> None:
        self.http = http
        self.root = root

    async def admin(self, method: str, path: str, json_body: Any = None) -> httpx.Response:
        return await self.http.request(method, path, json=json_body, headers=bearer(self.root))

    async def identity_with(self, allowed_arns: str, **config: Any) -> str:
        created = await self.admin(
            "POST", "/api/v1/identities", {"name": "ci", "policies": ["app"]}
        )
        assert created.status_code == 200, created.text
        identity_id: str = created.json()["identity"]["id"]
        attached = await self.admin(
            "POST",
            f"/api/v1/auth/alicloud-auth/identities/{identity_id}",
            {"allowedArns": allowed_arns, **config},
        )
        assert attached.status_code == 200, attached.text
        return identity_id

    async def login(self, identity_id: str, who: Identity) -> httpx.Response:
        return await self.http.post(LOGIN, json=body(identity_id, who))

    async def lookup_status(self, token: str) -> int:
        response = await self.http.get("/v1/auth/token/lookup-self", headers=bearer(token))
        return response.status_code


@pytest.fixture
async def sts(start_emulator: StartEmulator) -> RunningEmulator:
    return await start_emulator([ROLE, USER, STRANGER])


async def test_every_endpoint_on_a_real_server(tmp_path: Path, sts: RunningEmulator) -> None:
    port = free_port()
    config = write_config(tmp_path, port, sts.url)
    # running_server waits synchronously; the emulator shares this loop but is idle meanwhile.
    with server(tmp_path, "run1", port, config) as (url, process):
        (root,) = ROOT_LINE.findall(process.stderr())
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            face = Face(http, root)
            role_arn = f"acs:ram::{ACCOUNT}:role/dev-role"
            identity_id = await face.identity_with(
                role_arn, accessTokenTTL=600, accessTokenMaxTTL=1200, accessTokenNumUsesLimit=3
            )

            # Read and update the identity and its config.
            read = await face.admin("GET", f"/api/v1/identities/{identity_id}")
            assert read.json()["identity"]["authMethods"] == ["alicloud-auth"]
            renamed = await face.admin(
                "PATCH", f"/api/v1/identities/{identity_id}", {"name": "ci-2", "role": "member"}
            )
            assert renamed.json()["identity"]["name"] == "ci-2"
            config_read = await face.admin(
                "GET", f"/api/v1/auth/alicloud-auth/identities/{identity_id}"
            )
            shown = config_read.json()["identityAliCloudAuth"]
            assert shown["allowedArns"] == role_arn and shown["accessTokenNumUsesLimit"] == 3

            # STS temporary credentials, a role session matched by role/<name>.
            signed = body(identity_id, ROLE, organizationSlug="acme")
            answer = await http.post(LOGIN, json=signed)
            assert answer.status_code == 200, answer.text
            login = answer.json()
            assert list(login) == ["accessToken", "expiresIn", "accessTokenMaxTTL", "tokenType"]
            assert (login["expiresIn"], login["accessTokenMaxTTL"]) == (600, 1200)
            token = login["accessToken"]

            # The same body again: refused before STS.
            calls = sts.state.request_count
            error(await http.post(LOGIN, json=signed), 401, "UnauthorizedError")
            assert sts.state.request_count == calls

            # The use limit (3): every authenticated request spends one, on either face.
            assert await face.lookup_status(token) == 200
            refused = await http.get("/api/v1/identities", headers=bearer(token))
            error(refused, 403, "PermissionDenied")
            assert await face.lookup_status(token) == 200
            assert await face.lookup_status(token) == 403

            # Another account's ARN: 401.
            stranger = await face.identity_with(f"acs:ram::{ACCOUNT}:user/alice")
            message = error(await face.login(stranger, STRANGER), 401, "UnauthorizedError")
            assert message == "Access denied: Alibaba Cloud account ARN not allowed."

            # An ARN list that parses to nothing: 422.
            fresh = (await face.admin("POST", "/api/v1/identities", {"name": "x"})).json()
            empty = await face.admin(
                "POST",
                f"/api/v1/auth/alicloud-auth/identities/{fresh['identity']['id']}",
                {"allowedArns": ","},
            )
            assert error(empty, 422, "ValidationFailure")[0]["path"] == ["allowedArns"]

            # Trusted IPs narrowed after issue refuse the token at once.
            user_identity = await face.identity_with(USER.arn)
            narrowed_token = (await face.login(user_identity, USER)).json()["accessToken"]
            assert await face.lookup_status(narrowed_token) == 200
            patched = await face.admin(
                "PATCH",
                f"/api/v1/auth/alicloud-auth/identities/{user_identity}",
                {"accessTokenTrustedIps": [{"ipAddress": "10.0.0.0/8"}]},
            )
            assert patched.status_code == 200, patched.text
            assert await face.lookup_status(narrowed_token) == 403
            ip_refusal = await http.get("/api/v1/identities", headers=bearer(narrowed_token))
            error(ip_refusal, 403, "ForbiddenError")

            # Renew and revoke with the token in the body, no Authorization header.
            renew_identity = await face.identity_with(USER.arn, accessTokenTTL=300)
            renewable = (await face.login(renew_identity, USER)).json()["accessToken"]
            renewed = await http.post("/api/v1/auth/token/renew", json={"accessToken": renewable})
            assert renewed.status_code == 200 and renewed.json()["expiresIn"] == 300
            revoked = await http.post("/api/v1/auth/token/revoke", json={"accessToken": renewable})
            assert revoked.json() == {"message": "Successfully revoked access token"}
            assert await face.lookup_status(renewable) == 403

            # Deleting the AliCloud auth revokes its tokens; so does deleting the identity.
            kept = (await face.login(renew_identity, USER)).json()["accessToken"]
            assert await face.lookup_status(kept) == 200
            deleted = await face.admin(
                "DELETE", f"/api/v1/auth/alicloud-auth/identities/{renew_identity}"
            )
            assert deleted.status_code == 200
            assert await face.lookup_status(kept) == 403
            other = await face.identity_with(USER.arn)
            survivor = (await face.login(other, USER)).json()["accessToken"]

            # STS faults: 502, 504; never 500.
            sts.state.fault = "http500"
            assert error(await face.login(other, USER), 502, "BadGateway") == (
                "Alibaba Cloud STS unavailable"
            )
            sts.state.fault = "slow:4"
            error(await face.login(other, USER), 504, "GatewayTimeoutError")
            sts.state.fault = None

            # Malformed JSON: 400.
            broken = await http.post(
                LOGIN, content=b"{", headers={"Content-Type": "application/json"}
            )
            error(broken, 400, "BadRequest")

    # After a restart: identities, configs and tokens are still there (SQLite).
    with server(tmp_path, "run2", port, config) as (url, _):
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            face = Face(http, root)
            assert await face.lookup_status(survivor) == 200
            listed = (await face.admin("GET", "/api/v1/identities")).json()
            assert listed["totalCount"] == 6
            gone = await face.admin("DELETE", f"/api/v1/identities/{other}")
            assert gone.status_code == 200
            assert await face.lookup_status(survivor) == 403


def readme_block(language: str, marker: str) -> str:
    blocks = re.findall(rf"```{language}\n(.*?)```", README.read_text(), re.DOTALL)
    return next(b for b in blocks if marker in b)


def fill(block: str, url: str, identity_id: str) -> str:
    return (
        block.replace("<your AccessKey ID>", USER.access_key_id)
        .replace("<your AccessKey secret>", USER.access_key_secret)
        .replace("<your identity id>", identity_id)
        .replace("http://127.0.0.1:8200", url)
    )


async def run(*command: str) -> bytes:
    process = await asyncio.create_subprocess_exec(
        *command, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    return out


async def test_the_readme_samples_log_in(tmp_path: Path, sts: RunningEmulator) -> None:
    port = free_port()
    config = write_config(tmp_path, port, sts.url)
    with server(tmp_path, "run", port, config) as (url, process):
        (root,) = ROOT_LINE.findall(process.stderr())
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            face = Face(http, root)
            identity_id = await face.identity_with(USER.arn)
            # The README's Python sample, only the values filled in.
            python_sample = tmp_path / "login.py"
            python_sample.write_text(
                fill(readme_block("python", "SECURITY_TOKEN"), url, identity_id)
            )
            printed = (await run(sys.executable, str(python_sample))).decode()
            token = re.search(r"'accessToken': '([^']+)'", printed)
            assert token is not None, printed
            assert await face.lookup_status(token.group(1)) == 200
            if shutil.which("node") is None:
                pytest.skip("node is not installed")
            # Infisical's docs sample, as the README gives it; only the values are filled in.
            node_sample = tmp_path / "login.mjs"
            node_sample.write_text(fill(readme_block("js", "createHmac"), url, identity_id))
            answer = json.loads(await run("node", str(node_sample)))
            assert answer["tokenType"] == "Bearer", answer
            assert await face.lookup_status(answer["accessToken"]) == 200


async def test_audit_and_a_global_quota_on_a_real_server(
    tmp_path: Path, sts: RunningEmulator
) -> None:
    port = free_port()
    config = write_config(tmp_path, port, sts.url)
    audit_log = tmp_path / "audit.log"
    config.write_text(
        config.read_text()
        + f'\n[[audit]]\npath = "file"\ntype = "file"\noptions = {{ file_path = "{audit_log}" }}\n'
    )
    with server(tmp_path, "run", port, config) as (url, process):
        (root,) = ROOT_LINE.findall(process.stderr())
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            face = Face(http, root)
            identity_id = await face.identity_with(USER.arn)
            headers = {"enable_rate_limit_response_headers": True}
            assert (await face.admin("POST", "/v1/sys/quotas/config", headers)).is_success
            quota = {"rate": 2, "interval": "1h"}
            assert (await face.admin("POST", "/v1/sys/quotas/rate-limit/all", quota)).is_success
            signed = [body(identity_id, USER) for _ in range(3)]
            first = await http.post(LOGIN, json=signed[0])
            assert first.status_code == 200, first.text
            assert first.headers["X-Ratelimit-Remaining"] == "1"
            assert (await http.post(LOGIN, json=signed[1])).status_code == 200
            calls = sts.state.request_count
            refused = await http.post(LOGIN, json=signed[2])
            message = error(refused, 429, "RateLimitExceeded")
            wait = int(refused.headers["Retry-After"])
            assert 3000 < wait <= 3600
            assert message == f"Rate limit exceeded. Please try again in {wait} seconds"
            assert refused.headers["X-Ratelimit-Limit"] == "2"
            assert sts.state.request_count == calls  # refused before STS
            # The Vault face counts against the same quota.
            assert (await http.get("/v1/sys/auth", headers=bearer(root))).status_code == 429
    logged = [json.loads(line) for line in audit_log.read_text().splitlines()]
    logins = [e for e in logged if e["request"]["path"] == "api/v1/auth/alicloud-auth/login"]
    # Two logins, a request and a response entry each; the refused one is not audited.
    assert [e["type"] for e in logins] == ["request", "response"] * 2
    assert all(e["request"]["mount_point"] == "auth/alicloud/" for e in logins)
    token = first.json()["accessToken"]
    assert logins[1]["response"]["auth"]["client_token"].startswith("hmac-sha256:")
    assert logins[1]["response"]["auth"]["metadata"]["arn"] == USER.arn
    text = audit_log.read_text()
    assert token not in text and signed[0]["Signature"] not in text and root not in text
