"""sys/auth: list, enable, read, disable and tune auth methods (and sys/mounts/auth/.../tune)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.registry import PluginRegistry
from tests.conftest import backend_config

ENVELOPE_KEYS = [
    "request_id",
    "lease_id",
    "renewable",
    "lease_duration",
    "data",
    "wrap_info",
    "warnings",
    "auth",
]
MOUNT_KEYS = [
    "accessor",
    "config",
    "description",
    "external_entropy_access",
    "local",
    "options",
    "plugin_version",
    "running_plugin_version",
    "running_sha256",
    "seal_wrap",
    "type",
    "uuid",
]
PLUGIN_MOUNT_KEYS = sorted([*MOUNT_KEYS, "deprecation_status"])
TUNE_KEYS = ["default_lease_ttl", "description", "force_no_cache", "max_lease_ttl", "token_type"]
SYSTEM_TTL = 2764800


async def enable(srv: Any, path: str, body: dict[str, Any] | None = None) -> None:
    resp = await srv.call("POST", f"/v1/sys/auth/{path}", json={"type": "testkv", **(body or {})})
    assert resp.status_code == 204, resp.text
    assert resp.content == b""


async def error(srv: Any, method: str, path: str, body: Any = None) -> tuple[int, list[str]]:
    resp = await srv.call(method, path, json=body)
    return resp.status_code, resp.json()["errors"]


def legacy(body: dict[str, Any]) -> dict[str, Any]:
    """Check the legacy shape (data keys copied in front of the envelope); return data."""
    data: dict[str, Any] = body["data"]
    assert list(body) == [*data, *ENVELOPE_KEYS]
    for key, value in data.items():
        assert body[key] == value
    return data


# -- list ------------------------------------------------------------------------------------


async def test_list_on_a_fresh_server(psrv: Any) -> None:
    resp = await psrv.call("GET", "/v1/sys/auth")
    assert resp.status_code == 200
    data = legacy(resp.json())
    assert list(data) == ["token/"]
    token = data["token/"]
    assert list(token) == MOUNT_KEYS
    assert token["accessor"].startswith("auth_token_")
    assert token["config"] == {
        "default_lease_ttl": 0,
        "force_no_cache": False,
        "max_lease_ttl": 0,
        "token_type": "default-service",
    }
    assert token["description"] == "token based credentials"
    assert token["options"] is None
    assert token["type"] == "token"
    assert (token["local"], token["seal_wrap"], token["external_entropy_access"]) == (
        False,
        False,
        False,
    )


async def test_list_after_enabling(psrv: Any) -> None:
    await enable(psrv, "kv", {"description": "d", "config": {"default_lease_ttl": "1h"}})
    await enable(psrv, "team/a/x")
    data = legacy((await psrv.call("GET", "/v1/sys/auth")).json())
    assert list(data) == ["kv/", "team/a/x/", "token/"]
    kv = data["kv/"]
    assert list(kv) == PLUGIN_MOUNT_KEYS
    assert kv["type"] == "testkv"
    assert kv["description"] == "d"
    assert kv["options"] == {}
    assert kv["deprecation_status"] == "supported"
    assert kv["config"]["default_lease_ttl"] == 3600
    assert kv["config"]["max_lease_ttl"] == 0
    assert kv["accessor"].startswith("auth_testkv_")
    assert kv["uuid"] != data["team/a/x/"]["uuid"]


# -- enable ----------------------------------------------------------------------------------


async def test_enable_serves_the_plugin_under_auth(psrv: Any) -> None:
    assert (await psrv.call("GET", "/v1/auth/kv/info")).status_code == 404
    await enable(psrv, "kv")
    resp = await psrv.call("GET", "/v1/auth/kv/info")
    assert resp.status_code == 200
    assert resp.json()["data"]["path"] == "kv/"
    assert resp.json()["data"]["type"] == "testkv"


async def test_enable_via_put_and_with_durations(psrv: Any) -> None:
    resp = await psrv.call(
        "PUT",
        "/v1/sys/auth/cfg",
        json={
            "type": "testkv",
            "description": "with config",
            "config": {"default_lease_ttl": "1h", "max_lease_ttl": "24h"},
        },
    )
    assert resp.status_code == 204
    await enable(psrv, "ints", {"config": {"default_lease_ttl": 600, "max_lease_ttl": 7200}})
    data = legacy((await psrv.call("GET", "/v1/sys/auth/cfg")).json())
    assert list(data) == PLUGIN_MOUNT_KEYS
    assert data["description"] == "with config"
    assert data["config"]["default_lease_ttl"] == 3600
    assert data["config"]["max_lease_ttl"] == 86400
    info = (await psrv.call("GET", "/v1/auth/ints/info")).json()["data"]
    assert (info["default_lease_ttl"], info["max_lease_ttl"]) == (600, 7200)


async def test_enable_ignores_unknown_fields_with_a_warning(psrv: Any) -> None:
    resp = await psrv.call("POST", "/v1/sys/auth/unk", json={"type": "testkv", "bogus": 1})
    # Vault answers 204 here and drops the field in silence; wardgate says what it ignored.
    assert resp.status_code == 200
    assert resp.json()["warnings"] == ["Endpoint ignored these unrecognized parameters: [bogus]"]
    assert resp.json()["data"] is None
    assert "unk/" in (await psrv.call("GET", "/v1/sys/auth")).json()["data"]


async def test_enable_conflicts(psrv: Any) -> None:
    await enable(psrv, "kv")
    await enable(psrv, "team/a/x")
    for path, clash in (
        ("kv", "kv/"),
        ("kv/sub", "kv/"),
        ("team", "team/a/x/"),
        ("team/a", "team/a/x/"),
        ("team/a/x/y", "team/a/x/"),
        ("token", "token/"),
    ):
        status, errors = await error(psrv, "POST", f"/v1/sys/auth/{path}", {"type": "testkv"})
        assert (status, errors) == (400, [f"path is already in use at {clash}"]), path
    # A sibling with a common name prefix is not a conflict.
    await enable(psrv, "kv2")
    await enable(psrv, "team/ab")


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("x", {"type": "nope"}, "plugin not found in the catalog: nope"),
        ("x", {"type": "token"}, "plugin not found in the catalog: token"),
        ("x", {}, "backend type must be specified as a string"),
        ("team/b/", {"type": "testkv"}, "cannot write to a path ending in '/'"),
        (
            "x",
            {"type": "testkv", "config": {"default_lease_ttl": "2h", "max_lease_ttl": "1h"}},
            "given default lease TTL greater than given max lease TTL",
        ),
        (
            "x",
            {"type": "testkv", "config": {"default_lease_ttl": "abc"}},
            'unable to parse default TTL of abc: time: invalid duration "abc"',
        ),
        (
            "x",
            {"type": "testkv", "config": {"max_lease_ttl": "1y"}},
            'unable to parse max TTL of 1y: time: invalid duration "1y"',
        ),
    ],
)
async def test_enable_refusals(psrv: Any, path: str, body: dict[str, Any], message: str) -> None:
    assert await error(psrv, "POST", f"/v1/sys/auth/{path}", body) == (400, [message])
    listed = (await psrv.call("GET", "/v1/sys/auth")).json()["data"]
    assert list(listed) == ["token/"]


# -- read and disable --------------------------------------------------------------------------


async def test_read_missing_mount_is_400(psrv: Any) -> None:
    assert await error(psrv, "GET", "/v1/sys/auth/nope") == (400, ["No auth engine at nope/"])


async def test_disable(psrv: Any) -> None:
    await enable(psrv, "kv")
    resp = await psrv.call("DELETE", "/v1/sys/auth/kv")
    assert resp.status_code == 204
    assert resp.content == b""
    assert list((await psrv.call("GET", "/v1/sys/auth")).json()["data"]) == ["token/"]
    assert (await psrv.call("GET", "/v1/auth/kv/info")).status_code == 404
    # Idempotent, and a path that never existed is fine too.
    assert (await psrv.call("DELETE", "/v1/sys/auth/kv")).status_code == 204
    assert (await psrv.call("DELETE", "/v1/sys/auth/never-existed")).status_code == 204


async def test_token_mount_cannot_be_disabled(psrv: Any) -> None:
    assert await error(psrv, "DELETE", "/v1/sys/auth/token") == (
        400,
        ["token credential backend cannot be disabled"],
    )
    assert (await psrv.call("GET", "/v1/auth/token/lookup-self")).status_code == 200


async def test_disable_revokes_the_mounts_tokens_and_deletes_its_storage(psrv: Any) -> None:
    await enable(psrv, "kv")
    await enable(psrv, "other")
    assert (await psrv.call("POST", "/v1/auth/kv/item/a", json={"value": "1"})).status_code == 204
    assert (
        await psrv.call("POST", "/v1/auth/other/item/a", json={"value": "2"})
    ).status_code == 204
    kv_login = (
        await psrv.call("POST", "/v1/auth/kv/login", token=None, json={"name": "al"})
    ).json()
    other_login = (
        await psrv.call("POST", "/v1/auth/other/login", token=None, json={"name": "bo"})
    ).json()
    mounts = (await psrv.call("GET", "/v1/sys/auth")).json()["data"]
    kv_prefix = f"auth/{mounts['kv/']['uuid']}/"
    assert await psrv.storage.list(kv_prefix)

    assert (await psrv.call("DELETE", "/v1/sys/auth/kv")).status_code == 204
    assert await psrv.storage.list(kv_prefix) == []
    kv_token = kv_login["auth"]["client_token"]
    resp = await psrv.call("GET", "/v1/auth/token/lookup-self", token=kv_token)
    assert resp.status_code == 403
    other_token = other_login["auth"]["client_token"]
    assert (
        await psrv.call("GET", "/v1/auth/token/lookup-self", token=other_token)
    ).status_code == 200
    assert (await psrv.call("GET", "/v1/auth/other/item/a")).json()["data"]["value"] == "2"

    # Enabled again at the same path, the mount starts empty.
    await enable(psrv, "kv")
    assert (await psrv.call("GET", "/v1/auth/kv/item/a")).status_code == 404


# -- tune ------------------------------------------------------------------------------------


async def read_tune(srv: Any, path: str) -> dict[str, Any]:
    resp = await srv.call("GET", f"/v1/sys/auth/{path}/tune")
    assert resp.status_code == 200, resp.text
    data = legacy(resp.json())
    assert list(data) == TUNE_KEYS
    return data


async def tune(srv: Any, path: str, body: dict[str, Any], via: str = "sys/auth") -> None:
    resp = await srv.call("POST", f"/v1/{via}/{path}/tune", json=body)
    assert resp.status_code == 204, resp.text


async def test_tune_read_shows_effective_values(psrv: Any) -> None:
    await enable(psrv, "kv")
    data = await read_tune(psrv, "kv")
    assert data == {
        "default_lease_ttl": SYSTEM_TTL,
        "description": "",
        "force_no_cache": False,
        "max_lease_ttl": SYSTEM_TTL,
        "token_type": "default-service",
    }
    token = await read_tune(psrv, "token")
    assert token["description"] == "token based credentials"
    assert token["default_lease_ttl"] == SYSTEM_TTL


async def test_tune_write_and_read_back(psrv: Any) -> None:
    await enable(psrv, "kv", {"description": "before"})
    await tune(
        psrv, "kv", {"default_lease_ttl": "2h", "max_lease_ttl": "48h", "description": "tuned"}
    )
    data = await read_tune(psrv, "kv")
    assert (data["default_lease_ttl"], data["max_lease_ttl"], data["description"]) == (
        7200,
        172800,
        "tuned",
    )
    resp = await psrv.call(
        "POST",
        "/v1/sys/auth/kv/tune",
        json={"default_lease_ttl": 1800, "max_lease_ttl": 3600, "bogus": 1},
    )
    assert resp.status_code == 200
    assert resp.json()["warnings"] == ["Endpoint ignored these unrecognized parameters: [bogus]"]
    data = await read_tune(psrv, "kv")
    assert (data["default_lease_ttl"], data["max_lease_ttl"], data["description"]) == (
        1800,
        3600,
        "tuned",
    )
    # The plugin sees the new limits without a restart.
    info = (await psrv.call("GET", "/v1/auth/kv/info")).json()["data"]
    assert (info["default_lease_ttl"], info["max_lease_ttl"]) == (1800, 3600)
    # sys/auth shows the mount's own values.
    listed = (await psrv.call("GET", "/v1/sys/auth")).json()["data"]["kv/"]["config"]
    assert (listed["default_lease_ttl"], listed["max_lease_ttl"]) == (1800, 3600)


async def test_tune_system_resets(psrv: Any) -> None:
    await enable(psrv, "kv", {"config": {"default_lease_ttl": "1h", "max_lease_ttl": "2h"}})
    await tune(psrv, "kv", {"default_lease_ttl": "system"})
    data = await read_tune(psrv, "kv")
    assert (data["default_lease_ttl"], data["max_lease_ttl"]) == (SYSTEM_TTL, 7200)
    await tune(psrv, "kv", {"max_lease_ttl": "system"})
    assert (await read_tune(psrv, "kv"))["max_lease_ttl"] == SYSTEM_TTL


async def test_tune_max_below_the_system_default_alone_is_allowed(psrv: Any) -> None:
    await enable(psrv, "kv")
    await tune(psrv, "kv", {"max_lease_ttl": "1h"})
    data = await read_tune(psrv, "kv")
    assert (data["default_lease_ttl"], data["max_lease_ttl"]) == (SYSTEM_TTL, 3600)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"default_lease_ttl": "100h", "max_lease_ttl": "1h"},
            "backend max lease TTL of 3600 would be less than backend default lease TTL of 360000",
        ),
        ({"default_lease_ttl": "abc"}, 'time: invalid duration "abc"'),
        ({"max_lease_ttl": -5}, "cannot provide negative value '-5'"),
        ({"token_type": "nonsense"}, "invalid value for 'token_type'"),
    ],
)
async def test_tune_refusals(psrv: Any, body: dict[str, Any], message: str) -> None:
    await enable(psrv, "kv", {"config": {"default_lease_ttl": "1h"}})
    assert await error(psrv, "POST", "/v1/sys/auth/kv/tune", body) == (400, [message])
    assert (await read_tune(psrv, "kv"))["default_lease_ttl"] == 3600


async def test_tune_against_an_existing_value(psrv: Any) -> None:
    await enable(psrv, "kv", {"config": {"default_lease_ttl": "2h"}})
    status, errors = await error(psrv, "POST", "/v1/sys/auth/kv/tune", {"max_lease_ttl": "1h"})
    assert status == 400
    assert errors == [
        "backend max lease TTL of 3600 would be less than backend default lease TTL of 7200"
    ]


async def test_tune_token_type(psrv: Any) -> None:
    await enable(psrv, "kv")
    await tune(psrv, "kv", {"token_type": "batch"})
    assert (await read_tune(psrv, "kv"))["token_type"] == "batch"


async def test_tune_via_sys_mounts(psrv: Any) -> None:
    await enable(psrv, "kv")
    await tune(
        psrv, "kv", {"default_lease_ttl": "45m", "description": "via mounts"}, "sys/mounts/auth"
    )
    resp = await psrv.call("GET", "/v1/sys/mounts/auth/kv/tune")
    data = legacy(resp.json())
    assert data == await read_tune(psrv, "kv")
    assert (data["default_lease_ttl"], data["description"]) == (2700, "via mounts")


async def test_tune_nested_mount(psrv: Any) -> None:
    await enable(psrv, "team/a/x", {"description": "nested"})
    await tune(psrv, "team/a/x", {"max_lease_ttl": "5h"})
    data = await read_tune(psrv, "team/a/x")
    assert (data["description"], data["max_lease_ttl"]) == ("nested", 18000)


async def test_tune_missing_mount(psrv: Any) -> None:
    assert await error(psrv, "GET", "/v1/sys/auth/nope/tune") == (
        400,
        ['cannot fetch sysview for path "auth/nope/"'],
    )
    assert await error(psrv, "POST", "/v1/sys/auth/nope/tune", {"max_lease_ttl": "1h"}) == (
        400,
        ['tune of path "auth/nope/" failed: no mount entry found'],
    )


# -- several server processes on one database ----------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_a_second_instance_sees_mount_changes_at_once(
    server_factory: Any,
    plugin_registry: PluginRegistry,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    backend: str,
) -> None:
    config = await backend_config(request, backend, tmp_path)
    async with (
        server_factory(config, registry=plugin_registry) as one,
        server_factory(config, registry=plugin_registry) as two,
    ):
        assert (await two.call("GET", "/v1/auth/kv/info")).status_code == 404
        await enable(one, "kv")
        assert (await two.call("GET", "/v1/auth/kv/info")).status_code == 200
        assert "kv/" in (await two.call("GET", "/v1/sys/auth")).json()["data"]

        await tune(one, "kv", {"max_lease_ttl": "2h"})
        assert (await read_tune(two, "kv"))["max_lease_ttl"] == 7200
        assert (await two.call("GET", "/v1/auth/kv/info")).json()["data"]["max_lease_ttl"] == 7200

        # A token issued by one instance works on the other, and a revocation is seen too.
        token = (await one.call("POST", "/v1/auth/token/create", json={"ttl": "1h"})).json()[
            "auth"
        ]["client_token"]
        assert (await two.call("GET", "/v1/auth/token/lookup-self", token=token)).status_code == 200
        await one.call("POST", "/v1/auth/token/revoke", json={"token": token})
        assert (await two.call("GET", "/v1/auth/token/lookup-self", token=token)).status_code == 403

        assert (await two.call("DELETE", "/v1/sys/auth/kv")).status_code == 204
        assert (await one.call("GET", "/v1/auth/kv/info")).status_code == 404


async def test_tuning_the_token_mount_changes_token_defaults(psrv: Any) -> None:
    await tune(psrv, "token", {"default_lease_ttl": "1h", "max_lease_ttl": "2h"})
    resp = await psrv.call("POST", "/v1/auth/token/create", json={"policies": ["a"]})
    assert resp.json()["auth"]["lease_duration"] == 3600
    resp = await psrv.call("POST", "/v1/auth/token/create", json={"policies": ["a"], "ttl": "5h"})
    assert resp.json()["auth"]["lease_duration"] == 7200
    assert resp.json()["warnings"] == [
        'Policy "a" does not exist',
        'TTL of "5h" exceeded the effective max_ttl of "2h"; TTL value is capped accordingly',
    ]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_a_mount_whose_plugin_is_gone_does_not_break_the_server(
    server_factory: Any,
    plugin_registry: PluginRegistry,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    backend: str,
) -> None:
    config = await backend_config(request, backend, tmp_path)
    async with server_factory(config, registry=plugin_registry) as before:
        await enable(before, "kv")
    async with server_factory(config, registry=PluginRegistry()) as after:
        assert (await after.call("GET", "/v1/auth/token/lookup-self")).status_code == 200
        assert (await after.call("GET", "/v1/sys/auth")).status_code == 200
