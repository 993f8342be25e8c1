"""AppRole against the real `wardgate server`: two Hypercorn workers on one SQLite file, the
mount defined in the config file, driven by hvac's AppRole methods exactly as Vault users call
them, and the 1-use secret ID raced by 20 parallel logins on fresh connections."""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import hvac
import pytest
from hvac.exceptions import Forbidden, InvalidPath, InvalidRequest

from tests.support.server import client_env, free_port, running_server

ROOT_LINE = re.compile(r"^Root token: (\S+)$", re.MULTILINE)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("approle")


@pytest.fixture(scope="module")
def vault(home: Path) -> Iterator[hvac.Client]:
    port = free_port()
    config = home / "wardgate.toml"
    config.write_text(
        f"""
[server]
address = "127.0.0.1:{port}"
workers = 2

[storage]
path = "{home / "wardgate.db"}"
synchronous = "normal"

[[auth]]
path = "ci/approle"
type = "approle"

[auth.config]
lockout_threshold = 3
"""
    )
    args = ["--config", str(config)]
    with running_server(args, client_env(home), port=port, log_dir=home / "logs") as (
        url,
        server,
    ):
        match = ROOT_LINE.search(server.stderr())
        assert match, server.stderr()
        client = hvac.Client(url=url, token=match.group(1))
        client.sys.enable_auth_method("approle")  # the API way, at the default path
        yield client
        client.adapter.close()


def test_hvac_role_and_secret_id_methods(vault: hvac.Client) -> None:
    approle = vault.auth.approle
    approle.create_or_update_approle(
        "web",
        token_policies=["default", "web"],
        token_ttl="10m",
        secret_id_num_uses=5,
        secret_id_ttl="1h",
        secret_id_bound_cidrs=["127.0.0.0/8"],
        token_bound_cidrs=["127.0.0.1/32"],
        token_type="service",
    )
    assert approle.list_roles()["data"]["keys"] == ["web"]
    role = approle.read_role("web")["data"]
    assert role["token_policies"] == ["default", "web"] and role["secret_id_ttl"] == 3600
    approle.update_role_id("web", "web-role-id")
    assert approle.read_role_id("web")["data"]["role_id"] == "web-role-id"

    made = approle.generate_secret_id("web", metadata={"env": "ci"}, cidr_list=["127.0.0.1/32"])[
        "data"
    ]
    assert made["secret_id_num_uses"] == 5 and made["secret_id_ttl"] == 3600
    looked = approle.read_secret_id("web", made["secret_id"])["data"]
    assert looked["metadata"] == {"env": "ci"} and looked["cidr_list"] == ["127.0.0.1/32"]
    by_accessor = approle.read_secret_id_accessor("web", made["secret_id_accessor"])["data"]
    assert by_accessor["secret_id_accessor"] == made["secret_id_accessor"]
    custom = approle.create_custom_secret_id("web", "hv-custom-secret-1")["data"]
    keys = approle.list_secret_id_accessors("web")["data"]["keys"]
    assert sorted(keys) == sorted([made["secret_id_accessor"], custom["secret_id_accessor"]])

    user = hvac.Client(url=vault.url)
    auth = user.auth.approle.login("web-role-id", made["secret_id"])["auth"]
    assert user.token == auth["client_token"] and auth["metadata"]["role_name"] == "web"
    assert user.auth.token.lookup_self()["data"]["meta"] == {"env": "ci", "role_name": "web"}
    assert approle.read_secret_id("web", made["secret_id"])["data"]["secret_id_num_uses"] == 4

    approle.destroy_secret_id("web", made["secret_id"])
    unknown = approle.read_secret_id("web", made["secret_id"])
    assert unknown.status_code == 204  # hvac hands back the bare response, as with Vault
    with pytest.raises(InvalidRequest, match="invalid role or secret ID"):
        user.auth.approle.login("web-role-id", made["secret_id"])
    approle.destroy_secret_id_accessor("web", custom["secret_id_accessor"])
    with pytest.raises(InvalidPath):
        approle.read_secret_id_accessor("web", custom["secret_id_accessor"])
    with pytest.raises(InvalidPath):
        approle.list_secret_id_accessors("web")
    approle.delete_role("web")
    with pytest.raises(InvalidPath):
        approle.read_role("web")


def test_hvac_login_lockout_on_config_file_mount(vault: hvac.Client) -> None:
    mount = "ci/approle"
    vault.auth.approle.create_or_update_approle("deploy", mount_point=mount)
    role_id = vault.auth.approle.read_role_id("deploy", mount_point=mount)["data"]["role_id"]
    secret = vault.auth.approle.generate_secret_id("deploy", mount_point=mount)["data"]
    user = hvac.Client(url=vault.url)
    for _ in range(3):  # this mount's threshold (config file)
        with pytest.raises(InvalidRequest):
            user.auth.approle.login(role_id, "wrong", mount_point=mount)
    with pytest.raises(Forbidden):
        user.auth.approle.login(role_id, secret["secret_id"], mount_point=mount)
    # The default mount has its own counters and Vault's threshold.
    vault.auth.approle.create_or_update_approle("deploy")
    other_id = vault.auth.approle.read_role_id("deploy")["data"]["role_id"]
    other = vault.auth.approle.generate_secret_id("deploy")["data"]["secret_id"]
    assert user.auth.approle.login(other_id, other)["auth"]["client_token"]


def test_field_endpoints_and_locked_users_across_workers(vault: hvac.Client) -> None:
    """hvac has no helpers for these; Vault users reach them with read/write/delete. Requests
    land on either worker, so the counters and the role are the storage's, not a process's."""
    mount = "ci/approle"
    base = f"auth/{mount}/role/fields"
    vault.write(base, token_ttl="10m", token_max_ttl="1h")
    vault.write(f"{base}/token-ttl", token_ttl="20m")
    assert vault.read(f"{base}/token-ttl")["data"] == {"token_ttl": 1200}
    with pytest.raises(InvalidRequest, match="token_ttl should not be greater than token_max_ttl"):
        vault.write(f"{base}/token-ttl", token_ttl="2h")
    vault.delete(f"{base}/token-ttl")
    assert vault.read(base)["data"]["token_ttl"] == 0
    with pytest.raises(InvalidPath, match="unsupported path"):
        vault.write(f"auth/{mount}/role/ghost/policies", token_policies="a")

    role_id = vault.read(f"{base}/role-id")["data"]["role_id"]
    secret = vault.write(f"{base}/secret-id")["data"]["secret_id"]
    user = hvac.Client(url=vault.url)
    for _ in range(3):  # this mount's threshold
        with pytest.raises(InvalidRequest):
            user.auth.approle.login(role_id, "wrong", mount_point=mount)
    accessor = vault.sys.list_auth_methods()["data"][f"{mount}/"]["accessor"]
    namespace = vault.read("sys/locked-users")["data"]["by_namespace"][0]
    mounts = {m["mount_accessor"]: m["alias_identifiers"] for m in namespace["mount_accessors"]}
    assert role_id in mounts[accessor]  # (with whatever other tests here locked)
    with pytest.raises(Forbidden):
        user.auth.approle.login(role_id, secret, mount_point=mount)
    vault.write(f"sys/locked-users/{accessor}/unlock/{role_id}")
    assert user.auth.approle.login(role_id, secret, mount_point=mount)["auth"]["client_token"]


def test_one_use_secret_id_race_across_workers(vault: hvac.Client) -> None:
    vault.auth.approle.create_or_update_approle("race", token_policies=["default"])
    role_id = vault.auth.approle.read_role_id("race")["data"]["role_id"]
    made = vault.write("auth/approle/role/race/secret-id", num_uses=1)["data"]

    def attempt(_: int) -> int:
        # A fresh connection each: the kernel spreads them over both worker processes.
        with httpx.Client(timeout=60) as client:
            response = client.post(
                f"{vault.url}/v1/auth/approle/login",
                json={"role_id": role_id, "secret_id": made["secret_id"]},
            )
            assert response.status_code in (200, 400), response.text
            return response.status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        codes = list(pool.map(attempt, range(20)))
    assert codes.count(200) == 1 and codes.count(400) == 19
    # Losers were not guessing: the role is not locked out by them.
    fresh = vault.write("auth/approle/role/race/secret-id")["data"]["secret_id"]
    assert (
        httpx.post(
            f"{vault.url}/v1/auth/approle/login",
            json={"role_id": role_id, "secret_id": fresh},
            timeout=60,
        ).status_code
        == 200
    )


def test_storage_holds_no_secret_id(vault: hvac.Client, home: Path) -> None:
    vault.auth.approle.create_or_update_approle("stored")
    secret = vault.auth.approle.generate_secret_id("stored")["data"]["secret_id"]
    custom = "plaintext-custom-secret-marker"
    vault.auth.approle.create_custom_secret_id("stored", custom)
    # The database and its WAL, as a thief copying the files would get them.
    files = list(home.glob("wardgate.db*"))
    assert files
    for file in files:
        data = file.read_bytes()
        assert secret.encode() not in data and custom.encode() not in data


def test_hvac_wrapped_secret_id(vault: hvac.Client) -> None:
    """The trusted-orchestrator pattern: the orchestrator gets a wrapped secret ID, the machine
    unwraps it (once) and logs in."""
    approle = vault.auth.approle
    approle.create_or_update_approle("wrapped")
    role_id = approle.read_role_id("wrapped")["data"]["role_id"]
    wrapped = approle.generate_secret_id("wrapped", wrap_ttl="60s")
    info = wrapped["wrap_info"]
    assert wrapped["data"] is None and info["ttl"] == 60
    assert info["creation_path"] == "auth/approle/role/wrapped/secret-id"
    machine = hvac.Client(url=vault.url, token=info["token"])
    secret = machine.sys.unwrap()["data"]
    assert secret["secret_id_accessor"] == info["wrapped_accessor"]
    with pytest.raises(InvalidRequest, match="wrapping token is not valid"):
        vault.sys.unwrap(info["token"])
    assert hvac.Client(url=vault.url).auth.approle.login(role_id, secret["secret_id"])
    # With the wrapping token in the body (the caller's own token is checked).
    custom = approle.create_custom_secret_id("wrapped", "wrapped-custom-1", wrap_ttl="2m")
    assert vault.sys.unwrap(custom["wrap_info"]["token"])["data"]["secret_id"] == (
        "wrapped-custom-1"
    )


def test_infisical_sdk_universal_auth_login(vault: hvac.Client) -> None:
    """Infisical's own Python SDK logs in with Universal Auth, unchanged."""
    from infisical_sdk import InfisicalSDKClient
    from infisical_sdk.infisical_requests import APIError

    root = {"Authorization": f"Bearer {vault.token}"}
    with httpx.Client(base_url=f"{vault.url}/api/v1/", headers=root, timeout=30) as api:
        identity = api.post("identities", json={"name": "sdk"}).json()["identity"]["id"]
        config = api.post(f"auth/universal-auth/identities/{identity}", json={}).json()
        client_id = config["identityUniversalAuth"]["clientId"]
        made = api.post(
            f"auth/universal-auth/identities/{identity}/client-secrets",
            json={"description": "sdk", "numUsesLimit": 1},
        ).json()
    sdk = InfisicalSDKClient(host=vault.url)
    answer = sdk.auth.universal_auth.login(client_id, made["clientSecret"])
    assert answer.tokenType == "Bearer" and answer.expiresIn == 2_592_000
    assert answer.accessTokenMaxTTL > 0
    me = httpx.get(
        f"{vault.url}/v1/auth/token/lookup-self",
        headers={"Authorization": f"Bearer {answer.accessToken}"},
        timeout=30,
    )
    assert me.status_code == 200 and me.json()["data"]["meta"]["auth_method"] == "universal-auth"
    with pytest.raises(APIError, match="usage limit reached"):
        InfisicalSDKClient(host=vault.url).auth.universal_auth.login(
            client_id, made["clientSecret"]
        )
    with pytest.raises(APIError, match="Invalid credentials"):
        InfisicalSDKClient(host=vault.url).auth.universal_auth.login(client_id, "0" * 64)
