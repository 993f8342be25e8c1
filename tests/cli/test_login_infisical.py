"""`wardgate login -method=alicloud identity_id=...`: the CLI signs as Infisical's docs do and
logs in through the Infisical API of a real dev server (its STS emulator checks the signature)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from .conftest import ROOT_TOKEN, Cli, DevServer
from .test_client_cli import _banner_commands, ok


def _identity(dev_server: DevServer, allowed_arns: str) -> str:
    headers = {"Authorization": f"Bearer {ROOT_TOKEN}"}
    with httpx.Client(base_url=dev_server.url, headers=headers, timeout=30) as http:
        created = http.post("/api/v1/identities", json={"name": "cli", "policies": ["p"]})
        identity_id: str = created.json()["identity"]["id"]
        attached = http.post(
            f"/api/v1/auth/alicloud-auth/identities/{identity_id}",
            json={"allowedArns": allowed_arns},
        )
        assert attached.status_code == 200, attached.text
    return identity_id


def test_login_with_an_identity_id(cli: Cli, dev_server: DevServer, tmp_path: Path) -> None:
    commands = _banner_commands(dev_server)
    given = dict(arg.split("=", 1) for arg in commands["login"] if "=" in arg)
    role_arn = next(a.split("=", 1)[1] for a in commands["write"] if a.startswith("arn="))
    identity_id = _identity(dev_server, role_arn)
    keys = [f"{k}={given[k]}" for k in ("access_key", "secret_key", "security_token")]

    payload = json.loads(
        ok(cli("login", "-method=alicloud", "-print-payload", f"identity_id={identity_id}", *keys))
    )
    assert payload["identityId"] == identity_id
    assert payload["Format"] == "JSON" and "SecurityToken" in payload and "role" not in payload

    out = ok(cli("login", "-method=alicloud", f"identity_id={identity_id}", *keys, token=None))
    assert "Success! You are now authenticated" in out
    stored = (tmp_path / ".wardgate-token").read_text().strip()
    assert ok(cli("token", "lookup", "-field=policies", token=None)).strip() == '["default", "p"]'
    assert ok(cli("token", "lookup", "-field=id", token=None)).strip() == stored

    # An identity whose ARN list does not admit the caller: Infisical's message, exit 2.
    other = _identity(dev_server, "acs:ram::1234567890123456:user/nobody")
    refused = cli("login", "-method=alicloud", f"identity_id={other}", *keys, token=None)
    assert refused.returncode == 2
    assert "401 Access denied: Alibaba Cloud account ARN not allowed." in refused.stderr
    assert given["secret_key"] not in refused.stderr + refused.stdout
    both = cli("login", "-method=alicloud", "role=x", f"identity_id={other}", *keys, token=None)
    assert both.returncode == 1 and "not both" in both.stderr
