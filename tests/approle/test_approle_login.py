"""Login: the token, use limits, TTLs, CIDRs at both levels, lockout, renewal, tidy."""

from __future__ import annotations

from typing import Any

from core.framework import KeyedHasher, StorageView
from core.storage.memory import MemoryStorage
from plugins.approle.secret_ids import SecretEntry, SecretIdStore, new_secret_id
from tests.approle.conftest import approle_registry, enable, login, make_role, new_secret
from tests.conftest import AUTH_KEYS, Server, ServerFactory

INVALID = {"errors": ["invalid role or secret ID"]}


class ListSpy(MemoryStorage):
    """Memory storage that records every range scan."""

    def __init__(self) -> None:
        super().__init__()
        self.listed: list[str] = []

    async def list(self, prefix: str, *, after: str = "", limit: int | None = None) -> list[str]:
        self.listed.append(prefix)
        return await super().list(prefix, after=after, limit=limit)


async def lookup(srv: Server, secret_id: str, role: str = "app") -> Any:
    return await srv.call(
        "POST", f"/v1/auth/approle/role/{role}/secret-id/lookup", json={"secret_id": secret_id}
    )


async def test_login_gives_vault_auth_block(srv: Server) -> None:
    role_id = await make_role(srv, "app1", token_policies="p1", token_ttl="20m")
    made = await new_secret(
        srv,
        "app1",
        metadata='{"env":"prod","role_name":"spoof"}',
        token_bound_cidrs="127.0.0.1/32",
        num_uses=3,
    )
    # hvac sends its own token on login; it is ignored.
    got = await srv.call(
        "POST",
        "/v1/auth/approle/login",
        json={"role_id": f"  {role_id} ", "secret_id": made["secret_id"]},
        token="s.bogus",
    )
    assert got.status_code == 200, got.text
    body = got.json()
    auth = body["auth"]
    assert list(auth) == AUTH_KEYS and body["data"] is None
    assert auth["metadata"] == {"env": "prod", "role_name": "app1"}
    assert auth["policies"] == ["default", "p1"] and auth["lease_duration"] == 1200
    assert auth["renewable"] is True and auth["orphan"] is True
    me = await srv.call("GET", "/v1/auth/token/lookup-self", token=auth["client_token"])
    data = me.json()["data"]
    assert data["display_name"] == "approle" and data["path"] == "auth/approle/login"
    assert data["bound_cidrs"] == ["127.0.0.1"]
    left = (await lookup(srv, made["secret_id"], "app1")).json()["data"]
    assert left["secret_id_num_uses"] == 2


async def test_login_failures_never_say_which_half(srv: Server) -> None:
    role_id = await make_role(srv, "app")
    secret = (await new_secret(srv, "app"))["secret_id"]
    assert (await login(srv, role_id, "wrong")).json() == INVALID
    assert (await login(srv, "unknown-role-id", secret)).json() == INVALID
    assert (await login(srv, "unknown-role-id", "wrong")).json() == INVALID
    missing_role = await login(srv, "", secret)
    assert (missing_role.status_code, missing_role.json()) == (400, {"errors": ["missing role_id"]})
    assert (await login(srv, role_id, None)).json() == {"errors": ["missing secret_id"]}
    too_long = await login(srv, role_id, "x" * 5000)
    assert too_long.status_code == 400
    form = await srv.call(
        "POST",
        "/v1/auth/approle/login",
        token=None,
        content=f"role_id={role_id}&secret_id={secret}",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert form.status_code == 200


async def test_one_use_secret_and_expiry(srv: Server) -> None:
    role_id = await make_role(srv, "app")
    once = await new_secret(srv, "app", num_uses=1)
    assert (await login(srv, role_id, once["secret_id"])).status_code == 200
    assert (await login(srv, role_id, once["secret_id"])).json() == INVALID
    acc = await srv.call(
        "POST",
        "/v1/auth/approle/role/app/secret-id-accessor/lookup",
        json={"secret_id_accessor": once["secret_id_accessor"]},
    )
    assert acc.status_code == 404
    short = await new_secret(srv, "app", ttl=3)
    assert (await lookup(srv, short["secret_id"])).status_code == 200
    srv.clock.advance(3)
    # Expired secret IDs are refused at once, before any sweep.
    assert (await lookup(srv, short["secret_id"])).status_code == 204
    assert (await login(srv, role_id, short["secret_id"])).json() == INVALID
    acc = await srv.call(
        "POST",
        "/v1/auth/approle/role/app/secret-id-accessor/lookup",
        json={"secret_id_accessor": short["secret_id_accessor"]},
    )
    assert acc.status_code == 204
    keys = (await srv.call("LIST", "/v1/auth/approle/role/app/secret-id")).json()["data"]["keys"]
    assert short["secret_id_accessor"] in keys
    tidy = await srv.call("POST", "/v1/auth/approle/tidy/secret-id")
    assert tidy.status_code == 202 and tidy.json()["warnings"][0].startswith("Tidy operation")
    assert (await srv.call("LIST", "/v1/auth/approle/role/app/secret-id")).status_code == 404


async def test_sweep_reads_only_the_expired_part_of_the_index() -> None:
    storage = ListSpy()
    secrets = SecretIdStore(StorageView(storage, "auth/x/"), KeyedHasher(b"k" * 32))

    def entry(expires: float) -> SecretEntry:
        return SecretEntry(
            accessor=new_secret_id(),
            verifier="",
            creation_time=0.0,
            expiration_time=expires,
            last_updated_time=0.0,
        )

    soon = [entry(10.0) for _ in range(3)]
    for i, e in enumerate(soon):
        await secrets.create("app", f"soon-{i}", e)
    await secrets.create("app", "later", entry(1000.0))
    await secrets.create("app", "forever", entry(0.0))
    storage.listed.clear()
    assert await secrets.sweep(11.0) == 3
    # Only the expiry index was read, never the secret IDs themselves.
    assert storage.listed and all(p == "auth/x/expiry/" for p in storage.listed)
    assert len(await secrets.accessors("app")) == 2
    assert await secrets.find("app", "later", 11.0) is not None
    assert await secrets.find("app", "soon-0", 0.0) is None  # deleted, not just expired


async def test_cidrs_on_role_and_secret(srv: Server) -> None:
    role_id = await make_role(srv, "net", secret_id_bound_cidrs="127.0.0.0/8")
    inside = await srv.client_from("127.0.0.5")
    outside = await srv.client_from("10.9.9.9")
    limited = await new_secret(srv, "net", num_uses=3, cidr_list="127.0.0.1/32")
    secret = limited["secret_id"]
    # The role's CIDRs: a caller outside learns nothing, and spends nothing.
    assert (await login(srv, role_id, secret, client=outside)).json() == INVALID
    # The secret ID's CIDRs (narrower): refused, and the use is not burnt either.
    assert (await login(srv, role_id, secret, client=inside)).json() == INVALID
    assert (await lookup(srv, secret, "net")).json()["data"]["secret_id_num_uses"] == 3
    assert (await login(srv, role_id, secret)).status_code == 200  # from 127.0.0.1
    # bind_secret_id=false: the role ID and the CIDRs are the credential.
    bare_id = await make_role(
        srv, "bare", bind_secret_id=False, secret_id_bound_cidrs="127.0.0.1/32"
    )
    assert (await login(srv, bare_id, None)).status_code == 200
    assert (await login(srv, bare_id, None, client=inside)).json() == INVALID
    nosecret = await srv.call("POST", "/v1/auth/approle/role/bare/secret-id", json={})
    assert nosecret.json() == {"errors": ["bind_secret_id is not set on the role"]}
    # token_strictly_bind_ip binds the token to the login address.
    strict_id = await make_role(srv, "strict", token_strictly_bind_ip=True)
    strict_secret = (await new_secret(srv, "strict"))["secret_id"]
    token = (await login(srv, strict_id, strict_secret, client=inside)).json()["auth"]
    me = await srv.call(
        "GET", "/v1/auth/token/lookup-self", token=token["client_token"], client=inside
    )
    assert me.json()["data"]["bound_cidrs"] == ["127.0.0.5"]
    other = await srv.call("GET", "/v1/auth/token/lookup-self", token=token["client_token"])
    assert other.status_code == 403


async def test_lockout_after_five_bad_secrets(srv: Server) -> None:
    role_id = await make_role(srv, "lock")
    good = (await new_secret(srv, "lock"))["secret_id"]
    for _ in range(2):
        assert (await login(srv, role_id, "bad")).json() == INVALID
    assert (await login(srv, role_id, good)).status_code == 200  # a success clears the count
    for _ in range(4):
        assert (await login(srv, role_id, "bad")).status_code == 400
    assert (await login(srv, role_id, good)).status_code == 200
    for _ in range(5):
        assert (await login(srv, role_id, "bad")).status_code == 400
    locked = await login(srv, role_id, good)
    assert (locked.status_code, locked.json()) == (403, {"errors": ["permission denied"]})
    # Unknown role IDs are not counted and lock nothing; other roles are unaffected.
    other_id = await make_role(srv, "other")
    other_secret = (await new_secret(srv, "other"))["secret_id"]
    assert (await login(srv, other_id, other_secret)).status_code == 200
    srv.clock.advance(15 * 60 + 1)
    assert (await login(srv, role_id, good)).status_code == 200


async def test_failures_spread_out_do_not_lock(srv: Server) -> None:
    role_id = await make_role(srv, "slow")
    good = (await new_secret(srv, "slow"))["secret_id"]
    for _ in range(8):
        assert (await login(srv, role_id, "bad")).status_code == 400
        srv.clock.advance(15 * 60 + 1)  # each failure is forgotten before the next
    assert (await login(srv, role_id, good)).status_code == 200


async def test_lockout_configured_per_mount(server_factory: ServerFactory) -> None:
    async with server_factory(registry=approle_registry()) as srv:
        await enable(
            srv,
            "approle",
            lockout_threshold=2,
            lockout_duration="10s",
            lockout_counter_reset_duration="10s",
        )
        await enable(srv, "nolock", lockout_disable=True)
        bad = await srv.call(
            "POST",
            "/v1/sys/auth/bad",
            json={"type": "approle", "options": {"lockout_threshold": "many"}},
        )
        assert bad.status_code == 400 and "approle mount config" in bad.text
        role_id = await make_role(srv, "r")
        good = (await new_secret(srv, "r"))["secret_id"]
        for _ in range(2):
            await login(srv, role_id, "bad")
        assert (await login(srv, role_id, good)).status_code == 403
        srv.clock.advance(11)
        assert (await login(srv, role_id, good)).status_code == 200

        await srv.call("POST", "/v1/auth/nolock/role/r", json={})
        rid = (await srv.call("GET", "/v1/auth/nolock/role/r/role-id")).json()["data"]["role_id"]
        sid = (await srv.call("POST", "/v1/auth/nolock/role/r/secret-id", json={})).json()
        for _ in range(10):
            got = await srv.call(
                "POST",
                "/v1/auth/nolock/login",
                token=None,
                json={"role_id": rid, "secret_id": "bad"},
            )
            assert got.status_code == 400
        ok = await srv.call(
            "POST",
            "/v1/auth/nolock/login",
            token=None,
            json={"role_id": rid, "secret_id": sid["data"]["secret_id"]},
        )
        assert ok.status_code == 200


async def test_renewal_follows_the_role(srv: Server) -> None:
    role_id = await make_role(srv, "per", token_period="1h", token_num_uses=0)
    secret = (await new_secret(srv, "per"))["secret_id"]
    auth = (await login(srv, role_id, secret)).json()["auth"]
    assert auth["lease_duration"] == 3600
    await srv.call("POST", "/v1/auth/approle/role/per", json={"token_period": "2h"})
    renewed = await srv.call("POST", "/v1/auth/token/renew-self", token=auth["client_token"])
    assert renewed.json()["auth"]["lease_duration"] == 7200
    await srv.call("DELETE", "/v1/auth/approle/role/per")
    gone = await srv.call("POST", "/v1/auth/token/renew-self", token=auth["client_token"])
    assert gone.status_code == 403 and "does not exist during renewal" in gone.text


async def test_batch_role(srv: Server) -> None:
    role_id = await make_role(srv, "batchy", token_type="batch", token_ttl="5m")
    secret = (await new_secret(srv, "batchy"))["secret_id"]
    auth = (await login(srv, role_id, secret)).json()["auth"]
    assert auth["client_token"].startswith("b.") and auth["accessor"] == ""
    assert auth["renewable"] is False and auth["token_type"] == "batch"
