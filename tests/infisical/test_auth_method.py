"""The parts every Infisical auth method shares, through a real (test) method: config attach,
get, update, delete with Infisical's defaults and limits; login; the access token on both
faces; use limit; live trusted IPs; renew and revoke; deletes that revoke tokens."""

from __future__ import annotations

import asyncio
from typing import Any

from core.framework import Backend
from core.infisical.method import FaceRequest, FaceServices, LoginGrant
from core.registry import default_registry
from tests.conftest import CLIENT_IP, ROOT_TOKEN, FakeClock, start_server
from tests.infisical.conftest import Face, assert_error, bearer, passphrase_config
from tests.infisical.fake_method import PassphraseMethod

CONFIG = "auth/passphrase-auth/identities/"
SECRET = "correct horse battery"


async def attach(face: Face, identity_id: str, **body: Any) -> dict[str, Any]:
    response = await face.call("POST", CONFIG + identity_id, json={"passphrase": SECRET, **body})
    assert response.status_code == 200, response.text
    config: dict[str, Any] = response.json()["identityPassphraseAuth"]
    return config


async def login(face: Face, identity_id: str, **kwargs: Any) -> Any:
    return await face.call(
        "POST",
        "auth/passphrase-auth/login",
        token=None,
        json={"identityId": identity_id, "passphrase": SECRET},
        **kwargs,
    )


async def test_attach_defaults_and_answer_shape(face: Face) -> None:
    identity = await face.identity()
    config = await attach(face, identity["id"])
    assert list(config) == [
        "id",
        "accessTokenTTL",
        "accessTokenMaxTTL",
        "accessTokenNumUsesLimit",
        "accessTokenTrustedIps",
        "createdAt",
        "updatedAt",
        "identityId",
        "type",
    ]
    assert config["accessTokenTTL"] == 2592000
    assert config["accessTokenMaxTTL"] == 2592000
    assert config["accessTokenNumUsesLimit"] == 0
    assert config["accessTokenTrustedIps"] == [
        {"ipAddress": "0.0.0.0", "type": "ipv4", "prefix": 0},
        {"ipAddress": "::", "type": "ipv6", "prefix": 0},
    ]
    assert config["identityId"] == identity["id"]
    read = await face.call("GET", CONFIG + identity["id"])
    assert read.json() == {"identityPassphraseAuth": config}
    shown = (await face.call("GET", f"identities/{identity['id']}")).json()["identity"]
    assert shown["authMethods"] == ["passphrase-auth"]

    again = await face.call("POST", CONFIG + identity["id"], json={"passphrase": SECRET})
    message = assert_error(again, 400, "BadRequest")
    assert message == "Failed to add Passphrase Auth to already configured identity"


async def test_limits_are_422_and_service_checks_400(face: Face) -> None:
    identity_id = (await face.identity())["id"]
    cases: list[tuple[dict[str, Any], list[Any], str]] = [
        ({"accessTokenTTL": 10, "accessTokenMaxTTL": 5}, [], "custom"),
        ({"accessTokenMaxTTL": 0}, ["accessTokenMaxTTL"], "too_small"),
        ({"accessTokenTTL": 315360001}, ["accessTokenTTL"], "too_big"),
        ({"accessTokenTTL": -1}, ["accessTokenTTL"], "too_small"),
        ({"accessTokenTTL": 1.5}, ["accessTokenTTL"], "invalid_type"),
        ({"accessTokenTTL": "60"}, ["accessTokenTTL"], "invalid_type"),
        ({"accessTokenNumUsesLimit": -1}, ["accessTokenNumUsesLimit"], "too_small"),
        ({"accessTokenTrustedIps": []}, ["accessTokenTrustedIps"], "too_small"),
        (
            {"accessTokenTrustedIps": [{}]},
            ["accessTokenTrustedIps", 0, "ipAddress"],
            "invalid_type",
        ),
        ({"passphrase": "short"}, ["passphrase"], "too_small"),
    ]
    for body, path, code in cases:
        sent = {"passphrase": SECRET, **body}
        issues = assert_error(
            await face.call("POST", CONFIG + identity_id, json=sent), 422, "ValidationFailure"
        )
        assert [(i["path"], i["code"]) for i in issues] == [(path, code)], body
    ttl_issue = assert_error(
        await face.call(
            "POST",
            CONFIG + identity_id,
            json={"passphrase": SECRET, "accessTokenTTL": 10, "accessTokenMaxTTL": 5},
        ),
        422,
        "ValidationFailure",
    )
    assert (
        ttl_issue[0]["message"] == "Access Token TTL cannot be greater than Access Token Max TTL."
    )
    bad_ip = await face.call(
        "POST",
        CONFIG + identity_id,
        json={"passphrase": SECRET, "accessTokenTrustedIps": [{"ipAddress": "10.0.0.0/33"}]},
    )
    assert assert_error(bad_ip, 400, "BadRequest") == (
        "The IP is not a valid IPv4, IPv6, or CIDR block"
    )
    # Nothing was stored by the refused attaches.
    assert_error(await face.call("GET", CONFIG + identity_id), 404, "NotFound")


async def test_update_and_missing_config(face: Face) -> None:
    identity_id = (await face.identity())["id"]
    for verb in ("GET", "PATCH", "DELETE"):
        response = await face.call(verb, CONFIG + identity_id, json={} if verb == "PATCH" else None)
        message = assert_error(response, 404, "NotFound")
        assert message == "The identity does not have Passphrase Auth attached"
    await attach(face, identity_id, accessTokenTTL=600, accessTokenMaxTTL=3600)
    # Only what is sent changes; the method's own fields are optional on update.
    updated = await face.call("PATCH", CONFIG + identity_id, json={"accessTokenNumUsesLimit": 3})
    assert updated.status_code == 200, updated.text
    body = updated.json()["identityPassphraseAuth"]
    assert (body["accessTokenTTL"], body["accessTokenMaxTTL"]) == (600, 3600)
    assert body["accessTokenNumUsesLimit"] == 3
    # TTL above the stored max: the service check (400), as Infisical.
    too_long = await face.call("PATCH", CONFIG + identity_id, json={"accessTokenTTL": 7200})
    assert assert_error(too_long, 400, "BadRequest") == (
        "Access token TTL cannot be greater than max TTL"
    )
    # Max TTL 0 is allowed on update.
    unlimited = await face.call("PATCH", CONFIG + identity_id, json={"accessTokenMaxTTL": 0})
    assert unlimited.json()["identityPassphraseAuth"]["accessTokenMaxTTL"] == 0


async def test_login_token_works_on_both_faces(face: Face) -> None:
    identity = await face.identity(policies=["app"])
    await attach(face, identity["id"], accessTokenTTL=600, accessTokenMaxTTL=3600)
    response = await login(face, identity["id"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert list(body) == ["accessToken", "expiresIn", "accessTokenMaxTTL", "tokenType"]
    assert body["expiresIn"] == 600 and body["accessTokenMaxTTL"] == 3600
    assert body["tokenType"] == "Bearer"
    token = body["accessToken"]

    lookup = await face.server.client.get("/v1/auth/token/lookup-self", headers=bearer(token))
    assert lookup.status_code == 200, lookup.text
    data = lookup.json()["data"]
    assert data["policies"] == ["app", "default"]
    assert data["ttl"] == 600 and data["explicit_max_ttl"] == 3600
    assert data["meta"]["identity_id"] == identity["id"]
    assert data["meta"]["auth_method"] == "passphrase-auth" and data["meta"]["via"] == "passphrase"
    # On the Infisical face the token is a caller like any other: its ACL decides.
    assert_error(await face.call("GET", "identities", token=token), 403, "PermissionDenied")

    wrong = await face.call(
        "POST",
        "auth/passphrase-auth/login",
        token=None,
        json={"identityId": identity["id"], "passphrase": "wrong one!"},
    )
    assert assert_error(wrong, 401, "UnauthorizedError") == "Invalid credentials"


async def test_ttl_zero_lives_for_its_max_and_expires_in_is_real(face: Face) -> None:
    identity_id = (await face.identity())["id"]
    await attach(face, identity_id, accessTokenTTL=0, accessTokenMaxTTL=5000)
    body = (await login(face, identity_id)).json()
    assert body["expiresIn"] == 5000  # "no expiry of its own": the max TTL bounds it
    face.server.clock.advance(1000)
    renewed = await face.call(
        "POST", "auth/token/renew", token=None, json={"accessToken": body["accessToken"]}
    )
    assert renewed.status_code == 200, renewed.text
    assert renewed.json()["expiresIn"] == 4000  # what is left of the max TTL


async def test_use_limit(face: Face) -> None:
    identity_id = (await face.identity())["id"]
    await attach(face, identity_id, accessTokenNumUsesLimit=2)
    token = (await login(face, identity_id)).json()["accessToken"]
    for _ in range(2):
        used = await face.server.client.get("/v1/auth/token/lookup-self", headers=bearer(token))
        assert used.status_code == 200
    spent = await face.server.client.get("/v1/auth/token/lookup-self", headers=bearer(token))
    assert spent.status_code == 403
    assert_error(await face.call("GET", "identities", token=token), 401, "UnauthorizedError")


async def test_trusted_ips_are_read_live(face: Face) -> None:
    identity_id = (await face.identity())["id"]
    await attach(face, identity_id)
    token = (await login(face, identity_id)).json()["accessToken"]
    other = await face.server.client_from("10.1.2.3")
    assert (await other.get("/v1/auth/token/lookup-self", headers=bearer(token))).status_code == 200

    narrowed = await face.call(
        "PATCH", CONFIG + identity_id, json={"accessTokenTrustedIps": [{"ipAddress": CLIENT_IP}]}
    )
    assert narrowed.json()["identityPassphraseAuth"]["accessTokenTrustedIps"] == [
        {"ipAddress": CLIENT_IP, "type": "ipv4"}
    ]
    # The token issued before the change is refused from outside at once, on both faces.
    assert (await other.get("/v1/auth/token/lookup-self", headers=bearer(token))).status_code == 403
    message = assert_error(
        await face.call("GET", "identities", token=token, client=other), 403, "ForbiddenError"
    )
    assert message == "You are not allowed to access this resource from the current IP address"
    mine = await face.server.client.get("/v1/auth/token/lookup-self", headers=bearer(token))
    assert mine.status_code == 200
    renew = await face.call(
        "POST", "auth/token/renew", token=None, client=other, json={"accessToken": token}
    )
    assert_error(renew, 403, "ForbiddenError")


async def test_renew_and_revoke_take_the_token_in_the_body(face: Face) -> None:
    identity_id = (await face.identity())["id"]
    await attach(face, identity_id, accessTokenTTL=600, accessTokenMaxTTL=1000)
    token = (await login(face, identity_id)).json()["accessToken"]
    face.server.clock.advance(500)
    renewed = await face.call("POST", "auth/token/renew", token=None, json={"accessToken": token})
    assert renewed.json() == {
        "accessToken": token,
        "expiresIn": 500,  # capped by the max TTL: 1000 - 500
        "accessTokenMaxTTL": 1000,
        "tokenType": "Bearer",
    }
    root_token = await face.call(
        "POST", "auth/token/renew", token=None, json={"accessToken": "root-test"}
    )
    assert assert_error(root_token, 400, "BadRequest") == "Token is not an identity access token"
    missing = await face.call("POST", "auth/token/renew", token=None, json={})
    assert assert_error(missing, 422, "ValidationFailure")[0]["path"] == ["accessToken"]

    revoked = await face.call("POST", "auth/token/revoke", token=None, json={"accessToken": token})
    assert revoked.json() == {"message": "Successfully revoked access token"}
    again = await face.call("POST", "auth/token/revoke", token=None, json={"accessToken": token})
    assert assert_error(again, 401, "UnauthorizedError") == "No identity access token found"
    after = await face.call("POST", "auth/token/renew", token=None, json={"accessToken": token})
    assert_error(after, 401, "UnauthorizedError")


async def test_deleting_the_config_revokes_only_its_tokens(face: Face) -> None:
    first = (await face.identity(name="first"))["id"]
    second = (await face.identity(name="second"))["id"]
    await attach(face, first)
    await attach(face, second)
    token_first = (await login(face, first)).json()["accessToken"]
    token_second = (await login(face, second)).json()["accessToken"]

    deleted = await face.call("DELETE", CONFIG + first)
    assert deleted.json()["identityPassphraseAuth"]["identityId"] == first
    lookup = face.server.client.get
    assert (
        await lookup("/v1/auth/token/lookup-self", headers=bearer(token_first))
    ).status_code == 403
    assert (
        await lookup("/v1/auth/token/lookup-self", headers=bearer(token_second))
    ).status_code == 200
    # Re-attaching does not bring the old tokens back.
    await attach(face, first)
    assert (
        await lookup("/v1/auth/token/lookup-self", headers=bearer(token_first))
    ).status_code == 403
    shown = (await face.call("GET", f"identities/{first}")).json()["identity"]
    assert shown["authMethods"] == ["passphrase-auth"]

    await face.call("DELETE", f"identities/{second}")
    assert (
        await lookup("/v1/auth/token/lookup-self", headers=bearer(token_second))
    ).status_code == 403
    assert_error(await login(face, second), 404, "NotFound")


async def test_concurrent_attaches_and_updates(face: Face) -> None:
    identity_id = (await face.identity())["id"]
    attaches = await asyncio.gather(
        *(face.call("POST", CONFIG + identity_id, json={"passphrase": SECRET}) for _ in range(4))
    )
    assert sorted(r.status_code for r in attaches) == [200, 400, 400, 400]
    updates = await asyncio.gather(
        face.call("PATCH", CONFIG + identity_id, json={"accessTokenNumUsesLimit": 7}),
        face.call("PATCH", CONFIG + identity_id, json={"accessTokenTTL": 60}),
    )
    assert [r.status_code for r in updates] == [200, 200]
    stored = (await face.call("GET", CONFIG + identity_id)).json()["identityPassphraseAuth"]
    assert (stored["accessTokenNumUsesLimit"], stored["accessTokenTTL"]) == (7, 60)


async def test_login_finishing_after_its_mount_is_disabled_gets_no_token() -> None:
    """The face issues tokens through the core's one login issue, which refuses a token whose
    mount was disabled while the method's checks ran (as on /v1/)."""
    gate, entered = asyncio.Event(), asyncio.Event()

    class GatedPassphrase(PassphraseMethod):
        async def login(self, req: FaceRequest, services: FaceServices) -> LoginGrant:
            grant = await super().login(req, services)
            entered.set()
            await gate.wait()  # as an AliCloud login waits for STS
            return grant

    gated = default_registry(include_entry_points=False)
    gated.add(
        "passphrase",
        lambda ctx: Backend(paths=[], faces={"infisical": GatedPassphrase()}),
        description="a passphrase login that waits",
    )
    async with start_server(passphrase_config(), registry=gated, clock=FakeClock()) as srv:
        face = Face(srv)
        identity_id = (await face.identity())["id"]
        await attach(face, identity_id)
        pending = asyncio.create_task(login(face, identity_id))
        await entered.wait()
        disabled = await srv.call("DELETE", "/v1/sys/auth/passphrase")
        assert disabled.status_code == 204, disabled.text
        gate.set()
        assert_error(await pending, 401, "UnauthorizedError")
        # Only the root token is stored: the login's token was revoked before any answer.
        assert await srv.runtime.tokens.storage.list("id/") == [srv.runtime.tokens.hash(ROOT_TOKEN)]
