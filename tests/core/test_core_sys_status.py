"""Vault's answers that the bao CLI and hvac depend on: sys/seal-status and sys/leader (no token),
sys/mounts (the secret-engine table: only sys/), `?help=1`'s top-level `help`, tune reading ""
as "unchanged", and the warning every write gives for fields it ignored."""

from __future__ import annotations

from typing import Any

import pytest

from core.registry import default_registry
from tests.conftest import start_server
from tests.core.test_core_sys_auth import ENVELOPE_KEYS, MOUNT_KEYS, SYSTEM_TTL, enable, legacy

IGNORED = "Endpoint ignored these unrecognized parameters: [{}]"
# sys/seal-status keys in Vault's order (transcripts §1, "seal-status GET (no token)").
SEAL_STATUS_KEYS = [
    "type",
    "initialized",
    "sealed",
    "t",
    "n",
    "progress",
    "nonce",
    "recovery_seal",
    "version",
    "commit_date",
    "migration",
    "cluster_name",
    "cluster_id",
    "storage_type",
]


async def test_seal_status_without_a_token_is_never_sealed(server: Any) -> None:
    resp = await server.call("GET", "/v1/sys/seal-status", token=None)
    assert resp.status_code == 200
    body = resp.json()
    assert list(body) == SEAL_STATUS_KEYS  # a flat object, no envelope
    assert (body["initialized"], body["sealed"], body["type"]) == (True, False, "none")
    assert body["storage_type"] == "memory"
    health = (await server.call("GET", "/v1/sys/health", token=None)).json()
    assert body["cluster_id"] == health["cluster_id"] != ""
    assert body["version"] == health["version"]


async def test_leader_without_a_token_says_no_ha(server: Any) -> None:
    resp = await server.call("GET", "/v1/sys/leader", token=None)
    assert resp.status_code == 200
    body = resp.json()
    assert "request_id" not in body
    assert body["ha_enabled"] is False
    assert body["is_self"] is False
    # Go's zero time: what Vault reports without HA, and what the Go client parses.
    assert body["active_time"] == "0001-01-01T00:00:00Z"
    assert body["leader_address"] == ""


@pytest.mark.parametrize("path", ["seal-status", "leader"])
async def test_status_endpoints_take_only_get(server: Any, path: str) -> None:
    resp = await server.call("POST", f"/v1/sys/{path}", token=None, json={})
    assert resp.status_code == 405


async def test_a_bad_token_does_not_stop_status(server: Any) -> None:
    # bao status sends whatever token the environment has, valid or not.
    resp = await server.call("GET", "/v1/sys/seal-status", token="s.not-a-token")
    assert resp.status_code == 200


async def test_mounts_lists_sys_only(server: Any) -> None:
    resp = await server.call("GET", "/v1/sys/mounts")
    assert resp.status_code == 200
    data = legacy(resp.json())
    assert list(data) == ["sys/"]
    assert list(data["sys/"]) == MOUNT_KEYS
    assert data["sys/"]["type"] == "system"
    again = legacy((await server.call("GET", "/v1/sys/mounts")).json())
    assert again["sys/"]["uuid"] == data["sys/"]["uuid"]


async def test_mounts_needs_a_token(server: Any) -> None:
    assert (await server.call("GET", "/v1/sys/mounts", token=None)).status_code == 403


async def test_read_a_mount(server: Any) -> None:
    resp = await server.call("GET", "/v1/sys/mounts/sys")
    assert resp.status_code == 200
    data = legacy(resp.json())
    assert data["type"] == "system"
    missing = await server.call("GET", "/v1/sys/mounts/secret")
    assert (missing.status_code, missing.json()) == (
        400,
        {"errors": ["No secret engine mount at secret/"]},
    )


async def test_mount_tuning_of_sys(server: Any) -> None:
    # hvac's read_mount_configuration reads sys/mounts/<path>/tune.
    resp = await server.call("GET", "/v1/sys/mounts/sys/tune")
    assert resp.status_code == 200
    data = legacy(resp.json())
    assert (data["default_lease_ttl"], data["max_lease_ttl"]) == (SYSTEM_TTL, SYSTEM_TTL)
    missing = await server.call("GET", "/v1/sys/mounts/secret/tune")
    assert missing.json() == {"errors": ['cannot fetch sysview for path "secret/"']}
    refused = await server.call("POST", "/v1/sys/mounts/sys/tune", json={"description": "x"})
    assert refused.status_code == 400
    assert "token.default_ttl" in refused.json()["errors"][0]


async def test_enabling_a_secrets_engine_is_refused_with_the_reason(server: Any) -> None:
    resp = await server.call("POST", "/v1/sys/mounts/secret", json={"type": "kv"})
    assert resp.status_code == 400
    (message,) = resp.json()["errors"]
    assert 'cannot enable the "kv" secrets engine at secret/' in message
    assert "no secret engines" in message
    assert list(legacy((await server.call("GET", "/v1/sys/mounts")).json())) == ["sys/"]


async def test_disabling_a_secrets_engine(server: Any) -> None:
    # Nothing mounted there: succeeds and does nothing, as in Vault.
    assert (await server.call("DELETE", "/v1/sys/mounts/secret")).status_code == 204
    resp = await server.call("DELETE", "/v1/sys/mounts/sys")
    assert resp.status_code == 400


async def test_sys_mounts_auth_tune_still_tunes_auth_methods(psrv: Any) -> None:
    await enable(psrv, "kv")
    resp = await psrv.call("POST", "/v1/sys/mounts/auth/kv/tune", json={"default_lease_ttl": "1h"})
    assert resp.status_code == 204
    tuned = await psrv.call("GET", "/v1/sys/mounts/auth/kv/tune")
    assert tuned.json()["data"]["default_lease_ttl"] == 3600


# -- tune: what the bao CLI sends ------------------------------------------------------------


async def read_tune(srv: Any, path: str) -> dict[str, Any]:
    resp = await srv.call("GET", f"/v1/sys/auth/{path}/tune")
    assert resp.status_code == 200, resp.text
    data: dict[str, Any] = resp.json()["data"]
    return data


async def test_tune_description_only_keeps_the_ttls(psrv: Any) -> None:
    await enable(psrv, "kv", {"config": {"default_lease_ttl": "1h", "max_lease_ttl": "2h"}})
    # Exactly what `bao auth tune -description=x kv/` sends.
    body = {
        "options": None,
        "default_lease_ttl": "",
        "description": "x",
        "max_lease_ttl": "",
        "force_no_cache": False,
    }
    resp = await psrv.call("POST", "/v1/sys/mounts/auth/kv/tune", json=body)
    assert resp.status_code == 204, resp.text
    data = await read_tune(psrv, "kv")
    assert (data["default_lease_ttl"], data["max_lease_ttl"], data["description"]) == (
        3600,
        7200,
        "x",
    )


async def test_tune_absent_and_null_mean_unchanged_system_resets(psrv: Any) -> None:
    await enable(psrv, "kv", {"config": {"default_lease_ttl": "1h", "max_lease_ttl": "2h"}})
    await psrv.call("POST", "/v1/sys/auth/kv/tune", json={"default_lease_ttl": None})
    assert (await read_tune(psrv, "kv"))["default_lease_ttl"] == 3600
    await psrv.call("POST", "/v1/sys/auth/kv/tune", json={"default_lease_ttl": "system"})
    data = await read_tune(psrv, "kv")
    assert (data["default_lease_ttl"], data["max_lease_ttl"]) == (SYSTEM_TTL, 7200)


async def test_tune_options_merge_into_the_plugin_settings(psrv: Any) -> None:
    await enable(psrv, "kv", {"options": {"region": "eu", "zone": "a"}})
    body = {"options": {"zone": None, "tier": "gold"}}
    assert (await psrv.call("POST", "/v1/sys/auth/kv/tune", json=body)).status_code == 204
    info = (await psrv.call("GET", "/v1/auth/kv/info")).json()["data"]
    assert info["config"] == {"region": "eu", "tier": "gold"}


async def test_tune_options_that_do_not_build_are_refused() -> None:
    async with start_server(registry=default_registry(include_entry_points=False)) as srv:
        resp = await srv.call("POST", "/v1/sys/auth/ali", json={"type": "alicloud"})
        assert resp.status_code == 204, resp.text
        bad = {"options": {"timeout": -1}}
        resp = await srv.call("POST", "/v1/sys/auth/ali/tune", json=bad)
        assert resp.status_code == 400
        assert "timeouts must be positive" in resp.json()["errors"][0]
        shown = (await srv.call("GET", "/v1/sys/auth/ali")).json()["data"]["options"]
        assert shown == {}


async def test_tune_force_no_cache_true_is_refused(psrv: Any) -> None:
    await enable(psrv, "kv")
    resp = await psrv.call("POST", "/v1/sys/auth/kv/tune", json={"force_no_cache": True})
    assert resp.status_code == 400
    assert "force_no_cache" in resp.json()["errors"][0]


# -- writes that ignore fields say so --------------------------------------------------------


async def test_a_write_that_ignores_fields_answers_200_with_the_warning(psrv: Any) -> None:
    await enable(psrv, "kv")
    resp = await psrv.call("POST", "/v1/auth/kv/item/a", json={"value": "v", "colour": "b"})
    assert resp.status_code == 200
    body = resp.json()
    assert list(body) == ENVELOPE_KEYS
    assert body["data"] is None
    assert body["warnings"] == [IGNORED.format("colour")]
    # Still written.
    item = (await psrv.call("GET", "/v1/auth/kv/item/a")).json()["data"]
    assert item["value"] == "v"
    # Nothing ignored: the usual 204.
    resp = await psrv.call("POST", "/v1/auth/kv/item/a", json={"value": "w"})
    assert (resp.status_code, resp.content) == (204, b"")


async def test_role_write_with_unknown_fields_warns() -> None:
    async with start_server(registry=default_registry(include_entry_points=False)) as srv:
        await srv.call("POST", "/v1/sys/auth/alicloud", json={"type": "alicloud"})
        body = {"arn": "acs:ram::1234567890123456:role/demo", "token_tll": "1h", "foo": 1}
        resp = await srv.call("POST", "/v1/auth/alicloud/role/demo", json=body)
        assert resp.status_code == 200
        assert resp.json()["warnings"] == [IGNORED.format("foo token_tll")]


async def test_policy_write_with_unknown_fields_warns(server: Any) -> None:
    body = {"policy": 'path "x" { capabilities = ["read"] }', "polcy": "typo"}
    resp = await server.call("PUT", "/v1/sys/policies/acl/p1", json=body)
    assert resp.status_code == 200
    assert resp.json()["warnings"] == [IGNORED.format("polcy")]


# -- ?help=1 ----------------------------------------------------------------------------------


async def test_help_is_top_level_as_path_help_reads_it(server: Any) -> None:
    resp = await server.call("GET", "/v1/sys/policies/acl/foo", params={"help": "1"})
    assert resp.status_code == 200
    body = resp.json()
    assert isinstance(body["help"], str)
    assert "Request:        sys/policies/acl/foo" in body["help"]
    assert "Matching Route: policies/acl/{name}" in body["help"]
    assert "    policy (" in body["help"]
    assert "/sys/policies/acl/{name}" in body["openapi"]["paths"]
