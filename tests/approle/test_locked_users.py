"""sys/locked-users over AppRole's lockout counters, against OpenBao 2.7.2's recorded answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.approle.conftest import enable, login, make_role, new_secret
from tests.conftest import Server

RECORDED = {
    x["name"]: x
    for x in json.loads(
        (Path(__file__).parents[1] / "data" / "openbao-approle-role-fields.json").read_text()
    )["exchanges"]
}


async def _accessor(srv: Server, path: str) -> str:
    mounts = (await srv.call("GET", "/v1/sys/auth")).json()["data"]
    accessor: str = mounts[f"{path}/"]["accessor"]
    return accessor


async def _lock(srv: Server, role_id: str, mount: str = "approle") -> None:
    body: dict[str, Any] = {"role_id": role_id, "secret_id": "wrong"}
    for _ in range(5):  # the default threshold
        got = await srv.call("POST", f"/v1/auth/{mount}/login", json=body, token=None)
        assert got.status_code == 400


async def test_locked_users_and_unlock_as_openbao(srv: Server) -> None:
    empty = await srv.call("GET", "/v1/sys/locked-users")
    assert empty.json()["data"] == {"by_namespace": [], "total": 0}
    role_id = await make_role(srv, "app1", role_id="my-custom-role-id")
    secret = (await new_secret(srv, "app1"))["secret_id"]
    await _lock(srv, role_id)
    assert (await login(srv, role_id, secret)).status_code == 403
    accessor = await _accessor(srv, "approle")

    recorded = RECORDED["74-locked-users"]
    got = await srv.call("GET", "/v1/sys/locked-users")
    assert got.status_code == recorded["status"]
    want = json.loads(
        json.dumps(recorded["response"]["data"]).replace("auth_approle_0bad045a", accessor)
    )
    assert got.json()["data"] == want

    unlock = RECORDED["76-unlock-user"]
    path = unlock["path"].replace("auth_approle_0bad045a", accessor)
    done = await srv.call(unlock["method"], path)
    assert (done.status_code, done.content) == (unlock["status"], b"")
    assert (await login(srv, role_id, secret)).status_code == 200
    assert (await srv.call("GET", "/v1/sys/locked-users")).json()["data"]["total"] == 0


async def test_locked_users_per_mount_filter_and_expiry(srv: Server) -> None:
    await enable(srv, "other")
    first = await make_role(srv, "a")
    second = await make_role(srv, "b")
    await _lock(srv, first)
    await _lock(srv, second)
    await srv.call("POST", "/v1/auth/other/role/c", json={"role_id": "c-id"})
    await _lock(srv, "c-id", mount="other")
    main, other = await _accessor(srv, "approle"), await _accessor(srv, "other")
    data = (await srv.call("GET", "/v1/sys/locked-users")).json()["data"]
    assert data["total"] == 3
    by_mount = {m["mount_accessor"]: m for m in data["by_namespace"][0]["mount_accessors"]}
    assert by_mount[main]["alias_identifiers"] == sorted([first, second])
    assert by_mount[other] == {"alias_identifiers": ["c-id"], "counts": 1, "mount_accessor": other}
    only = await srv.call("GET", "/v1/sys/locked-users", params={"mount_accessor": other})
    assert only.json()["data"]["total"] == 1
    # A role unlocked on one mount stays locked on the other; unknown aliases are a no-op.
    assert (await srv.call("POST", f"/v1/sys/locked-users/{main}/unlock/c-id")).status_code == 204
    assert (await srv.call("GET", "/v1/sys/locked-users")).json()["data"]["total"] == 3
    srv.clock.advance(15 * 60 + 1)  # the locks run out
    assert (await srv.call("GET", "/v1/sys/locked-users")).json()["data"]["total"] == 0


async def test_unlock_refuses_an_unknown_mount_and_needs_a_policy(srv: Server) -> None:
    got = await srv.call("POST", "/v1/sys/locked-users/auth_approle_nope/unlock/x")
    assert (got.status_code, got.json()) == (
        400,
        {"errors": ['no auth method with mount accessor "auth_approle_nope"']},
    )
    made = await srv.call("POST", "/v1/auth/token/create", json={"policies": ["default"]})
    user = made.json()["auth"]["client_token"]
    assert (await srv.call("GET", "/v1/sys/locked-users", token=user)).status_code == 403
    accessor = await _accessor(srv, "approle")
    refused = await srv.call("POST", f"/v1/sys/locked-users/{accessor}/unlock/x", token=user)
    assert refused.status_code == 403


async def test_a_role_made_again_under_a_locked_name_starts_unlocked(srv: Server) -> None:
    """Vault keys the lock by role ID, and a new role gets a new one: the lock goes with the
    deleted role, not with its name."""
    await _lock(srv, await make_role(srv, "again"))
    assert (await srv.call("GET", "/v1/sys/locked-users")).json()["data"]["total"] == 1
    assert (await srv.call("DELETE", "/v1/auth/approle/role/again")).status_code == 204
    assert (await srv.call("GET", "/v1/sys/locked-users")).json()["data"]["total"] == 0
    role_id = await make_role(srv, "again")
    secret = (await new_secret(srv, "again"))["secret_id"]
    assert (await login(srv, role_id, secret)).status_code == 200
