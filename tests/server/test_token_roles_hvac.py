"""Token roles through hvac against a real `wardgate server --dev`: what a CI system's code does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import hvac
import pytest
from hvac.exceptions import InvalidPath, InvalidRequest

from tests.support.server import client_env, running_server

ROOT = "roles-root"


@pytest.fixture(scope="module")
def vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[hvac.Client]:
    home: Path = tmp_path_factory.mktemp("roles")
    args = ["--dev", "--dev-root-token-id", ROOT]
    with running_server(args, client_env(home), log_dir=home / "logs") as (url, _):
        client = hvac.Client(url=url, token=ROOT)
        yield client
        client.adapter.close()


def test_hvac_token_role_lifecycle(vault: hvac.Client) -> None:
    tokens = vault.auth.token
    with pytest.raises(InvalidPath):
        tokens.list_roles()
    tokens.create_or_update_role(
        "ci",
        allowed_policies=["reader"],
        disallowed_policies=["admin"],
        orphan=True,
        path_suffix="build-1",
        token_period="1h",
        token_explicit_max_ttl="0",
    )
    role = tokens.read_role("ci")["data"]
    assert role["allowed_policies"] == ["reader"] and role["orphan"] is True
    assert role["token_period"] == 3600 and role["path_suffix"] == "build-1"
    assert tokens.list_roles()["data"]["keys"] == ["ci"]

    minted = tokens.create(role_name="ci")["auth"]
    assert minted["policies"] == ["default", "reader"]
    assert minted["orphan"] is True and minted["lease_duration"] == 3600
    looked = tokens.lookup(minted["client_token"])["data"]
    assert looked["path"] == "auth/token/create/ci/build-1" and looked["role"] == "ci"

    with pytest.raises(InvalidRequest, match="must be subset of the role's allowed policies"):
        tokens.create(role_name="ci", policies=["admin"])
    with pytest.raises(InvalidRequest, match="unknown role nope"):
        tokens.create(role_name="nope")

    tokens.delete_role("ci")
    with pytest.raises(InvalidPath):
        tokens.read_role("ci")
