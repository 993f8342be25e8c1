"""hvac, the Python Vault client, against a real `wardgate server --dev` (Hypercorn, loopback):
what a Vault user's existing code does must work unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import hvac
import pytest
from hvac.exceptions import Forbidden, InvalidPath, InvalidRequest

from plugins.alicloud.emulator import demo_identities
from plugins.alicloud.login import login_payload
from tests.support.server import client_env, running_server

ROOT = "hvac-root"


@pytest.fixture(scope="module")
def vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[hvac.Client]:
    home: Path = tmp_path_factory.mktemp("hvac")
    args = ["--dev", "--dev-root-token-id", ROOT]
    with running_server(args, client_env(home), log_dir=home / "logs") as (url, _):
        client = hvac.Client(url=url, token=ROOT)
        yield client
        client.adapter.close()


def test_token_self_service_and_sys(vault: hvac.Client) -> None:
    assert vault.is_authenticated()
    me = vault.auth.token.lookup_self()["data"]
    assert me["policies"] == ["root"] and me["id"] == ROOT
    methods = vault.sys.list_auth_methods()
    assert "token/" in methods["data"] and methods["data"]["alicloud/"]["type"] == "alicloud"
    assert vault.sys.read_health_status(method="GET")["initialized"] is True


def test_token_create_lookup_renew_revoke(vault: hvac.Client) -> None:
    created = vault.auth.token.create(policies=["default"], ttl="1h", num_uses=0)["auth"]
    child = hvac.Client(url=vault.url, token=created["client_token"])
    assert child.auth.token.lookup_self()["data"]["ttl"] <= 3600
    renewed = child.auth.token.renew_self(increment="2h")["auth"]
    assert renewed["lease_duration"] == 7200
    vault.auth.token.revoke(created["client_token"])
    with pytest.raises(Forbidden):
        child.auth.token.lookup_self()


def test_policies_and_enforcement(vault: hvac.Client) -> None:
    policy = 'path "auth/alicloud/role/*" { capabilities = ["read", "list"] }'
    vault.sys.create_or_update_policy(name="hvac-reader", policy=policy)
    assert vault.sys.read_policy(name="hvac-reader")["data"]["rules"] == policy
    vault.write("auth/alicloud/role/hvac-r1", arn="acs:ram::1234567890123456:role/demo")
    token = vault.auth.token.create(policies=["hvac-reader"], ttl="10m")["auth"]["client_token"]
    reader = hvac.Client(url=vault.url, token=token)
    assert reader.read("auth/alicloud/role/hvac-r1")["data"]["arn"].endswith(":role/demo")
    assert "hvac-r1" in reader.list("auth/alicloud/role")["data"]["keys"]
    with pytest.raises(Forbidden):
        reader.write("auth/alicloud/role/hvac-r1", arn="acs:ram::1234567890123456:role/x")
    with pytest.raises(Forbidden):
        reader.sys.list_auth_methods()


def test_enable_tune_disable_auth_method(vault: hvac.Client) -> None:
    vault.sys.enable_auth_method("alicloud", path="team/a/alicloud", description="nested")
    vault.sys.tune_auth_method("team/a/alicloud", default_lease_ttl="1h", max_lease_ttl="2h")
    tuned = vault.sys.read_auth_method_tuning("team/a/alicloud")["data"]
    assert (tuned["default_lease_ttl"], tuned["max_lease_ttl"]) == (3600, 7200)
    with pytest.raises(InvalidRequest):
        vault.sys.enable_auth_method("alicloud", path="team/a/alicloud")
    vault.sys.disable_auth_method("team/a/alicloud")
    assert "team/a/alicloud/" not in vault.sys.list_auth_methods()["data"]


async def test_alicloud_login_through_hvac(vault: hvac.Client) -> None:
    demo = next(i for i in demo_identities() if i.security_token)
    account, role_name = demo.account_id, demo.arn.split("/")[1]
    vault.write("auth/alicloud/role/hvac-login", arn=f"acs:ram::{account}:role/{role_name}")
    body = await login_payload(
        "hvac-login",
        "cn-hangzhou",
        access_key=demo.access_key_id,
        secret_key=demo.access_key_secret,
        security_token=demo.security_token,
    )
    anonymous = hvac.Client(url=vault.url)
    auth = anonymous.adapter.post("/v1/auth/alicloud/login", json=body)["auth"]
    assert auth["metadata"]["arn"] == demo.arn
    anonymous.token = auth["client_token"]
    assert anonymous.auth.token.lookup_self()["data"]["path"] == "auth/alicloud/login"
    # A missing item is Vault's 404 {"errors":[]}: hvac answers None.
    assert vault.read("auth/alicloud/role/does-not-exist") is None
    with pytest.raises(InvalidPath, match="no handler for route"):
        vault.adapter.get("/v1/auth/nowhere/role/x")


def test_status_as_bao_status_and_hvac_read_it(vault: hvac.Client) -> None:
    # bao status reads sys/seal-status, then sys/leader; neither needs a token.
    anonymous = hvac.Client(url=vault.url)
    seal = anonymous.sys.read_seal_status()
    assert (seal["initialized"], seal["sealed"]) == (True, False)
    assert anonymous.sys.is_sealed() is False
    leader = anonymous.sys.read_leader_status()
    assert leader["ha_enabled"] is False
    assert leader["active_time"] == "0001-01-01T00:00:00Z"


def test_secret_engine_table(vault: hvac.Client) -> None:
    mounts = vault.sys.list_mounted_secrets_engines()
    assert list(mounts["data"]) == ["sys/"]
    assert mounts["data"]["sys/"]["type"] == "system"
    assert vault.sys.read_mount_configuration("sys")["data"]["max_lease_ttl"] == 768 * 3600
    with pytest.raises(InvalidRequest, match="no secret engines"):
        vault.sys.enable_secrets_engine("kv", path="secret")


def test_tune_with_a_description_only_keeps_the_ttls(vault: hvac.Client) -> None:
    vault.sys.enable_auth_method("alicloud", path="tuned", config={"default_lease_ttl": "1h"})
    vault.sys.tune_auth_method("tuned", max_lease_ttl="2h")
    vault.sys.tune_auth_method("tuned", description="only the description")
    tuned = vault.sys.read_auth_method_tuning("tuned")["data"]
    assert (tuned["default_lease_ttl"], tuned["max_lease_ttl"]) == (3600, 7200)
    assert tuned["description"] == "only the description"
    # As the bao CLI sends `bao auth tune -description=x`: every TTL flag not given as "".
    answer = vault.adapter.post(
        "/v1/sys/mounts/auth/tuned/tune",
        json={
            "options": None,
            "default_lease_ttl": "",
            "description": "x",
            "max_lease_ttl": "",
            "force_no_cache": False,
        },
    )
    assert answer.status_code == 204
    tuned = vault.sys.read_auth_method_tuning("tuned")["data"]
    assert (tuned["default_lease_ttl"], tuned["max_lease_ttl"], tuned["description"]) == (
        3600,
        7200,
        "x",
    )
    vault.sys.disable_auth_method("tuned")


def test_ignored_fields_and_path_help_over_http(vault: hvac.Client) -> None:
    written = vault.write(
        "auth/alicloud/role/hvac-typo", arn="acs:ram::1234567890123456:role/demo", token_tll="1h"
    )
    assert written["warnings"] == ["Endpoint ignored these unrecognized parameters: [token_tll]"]
    assert written["data"] is None
    helped = vault.adapter.get("/v1/auth/alicloud/role/hvac-typo", params={"help": "1"})
    assert helped["help"].startswith("Request:        auth/alicloud/role/hvac-typo\n")
    assert "    token_ttl (duration)" in helped["help"]
