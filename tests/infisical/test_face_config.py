"""`[infisical]` config: the face can be turned off, a method served by another mount or off."""

from __future__ import annotations

from core.config import AuthMountConfig, InfisicalConfig, parse_config
from tests.conftest import start_server
from tests.infisical.conftest import Face, assert_error, passphrase_config
from tests.infisical.fake_method import registry


async def _configured(face: Face) -> int:
    identity = await face.identity()
    response = await face.call(
        "POST",
        f"auth/passphrase-auth/identities/{identity['id']}",
        json={"passphrase": "long enough"},
    )
    return response.status_code


async def test_another_mount_serves_the_method() -> None:
    config = passphrase_config()
    config.auth.append(AuthMountConfig(path="team/pass", type="passphrase"))
    config.infisical = InfisicalConfig(mounts={"passphrase-auth": "team/pass"})
    async with start_server(config, registry=registry()) as srv:
        face = Face(srv)
        assert await _configured(face) == 200
        # Served by team/pass: disabling the default mount changes nothing.
        assert (await srv.call("DELETE", "/v1/sys/auth/passphrase")).status_code == 204
        assert await _configured(face) == 200
        assert (await srv.call("DELETE", "/v1/sys/auth/team/pass")).status_code == 204
        assert await _configured(face) == 404


async def test_a_method_or_the_whole_face_can_be_turned_off() -> None:
    config = passphrase_config()
    config.infisical = InfisicalConfig(mounts={"passphrase-auth": ""})
    async with start_server(config, registry=registry()) as srv:
        face = Face(srv)
        response = await face.call("POST", "auth/passphrase-auth/login", token=None, json={})
        assert assert_error(response, 404, "NotFound") == (
            "The auth method passphrase-auth is not served here"
        )
        assert (await face.call("GET", "identities")).status_code == 200

    config = passphrase_config()
    config.infisical = InfisicalConfig(enabled=False)
    async with start_server(config, registry=registry()) as srv:
        response = await Face(srv).call("GET", "identities")
        assert response.status_code == 404 and response.json() == {"errors": []}


def test_config_file_keys() -> None:
    parsed = parse_config('[infisical]\nenabled = false\nmounts = { "alicloud-auth" = "ali2" }\n')
    assert parsed.infisical == InfisicalConfig(enabled=False, mounts={"alicloud-auth": "ali2"})
