"""`wardgate agent` with `identity_id`: an Infisical machine identity logs in through
/api/v1/auth/alicloud-auth/login and renews through /api/v1/auth/token/renew."""

from __future__ import annotations

import time

import httpx

from .conftest import ACCOUNT, FIRST, Stack, read_sink, wait_for


def test_infisical_identity_login_and_renewal(stack: Stack) -> None:
    headers = {"Authorization": f"Bearer {stack.root_token}"}
    with httpx.Client(base_url=stack.url, headers=headers, timeout=30) as http:
        created = http.post("/api/v1/identities", json={"name": "agent", "policies": ["p"]})
        assert created.status_code == 200, created.text
        identity_id = created.json()["identity"]["id"]
        attached = http.post(
            f"/api/v1/auth/alicloud-auth/identities/{identity_id}",
            json={
                "allowedArns": f"acs:ram::{ACCOUNT}:role/app",
                "accessTokenTTL": 4,
                "accessTokenMaxTTL": 60,
            },
        )
        assert attached.status_code == 200, attached.text
    sink = stack.folder / "token"
    config = stack.folder / "agent.toml"
    config.write_text(
        f'[vault]\naddress = "{stack.url}"\n'
        "[auto_auth.method.alicloud.config]\n"
        f'identity_id = "{identity_id}"\naccess_key = "{FIRST["access_key_id"]}"\n'
        f'secret_key = "{FIRST["access_key_secret"]}"\n'
        f'[[auto_auth.sink.file]]\nconfig = {{ path = "{sink}" }}\n'
    )
    agent = stack.start_agent(config)
    first = str(wait_for(lambda: read_sink(sink), what="a token"))
    assert stack.lookup(first).status_code == 200
    started = time.monotonic()
    # Past the 4 s TTL, the sink still holds a working token: the agent renewed it.
    wait_for(
        lambda: time.monotonic() - started > 8 and stack.lookup(read_sink(sink)).status_code == 200,
        what="a working token after the TTL",
    )
    assert agent.poll() is None
    log = stack.agent_log()
    assert "renewed" in log and "logging in again" not in log
    assert first not in log
