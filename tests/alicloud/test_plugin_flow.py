"""The AliCloud plugin end to end over HTTP: role CRUD -> login -> lookup -> renew -> revoke,
against the STS emulator on loopback (real signatures, real sockets for the replay)."""

from __future__ import annotations

import base64
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from core.config import AuthMountConfig, Config, StorageConfig
from core.registry import default_registry
from plugins.alicloud.emulator import Identity
from plugins.alicloud.signer import sign_get_caller_identity
from tests.alicloud.conftest import ACCOUNT, ROLE, ROOT, USER, RunningEmulator, StartEmulator
from tests.conftest import AUTH_KEYS, FakeClock, Server, backend_config, start_server

ROLE_ARN = f"acs:ram::{ACCOUNT}:role/dev-role"
USER_ARN = f"acs:ram::{ACCOUNT}:user/alice"


@contextlib.asynccontextmanager
async def alicloud_server(
    emulator: RunningEmulator,
    clock: FakeClock,
    *,
    storage: StorageConfig | None = None,
    **mount_config: Any,
) -> AsyncIterator[Server]:
    config = Config(storage=storage or StorageConfig(backend="memory"))
    config.auth.append(
        AuthMountConfig(
            path="alicloud",
            type="alicloud",
            max_lease_ttl="24h",
            config={"sts_endpoint": emulator.url, **mount_config},
        )
    )
    async with start_server(
        config, registry=default_registry(include_entry_points=False), clock=clock
    ) as srv:
        yield srv


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC).timestamp())


@pytest.fixture
async def sts(start_emulator: StartEmulator, clock: FakeClock) -> RunningEmulator:
    return await start_emulator(clock=lambda: datetime.fromtimestamp(clock.now(), UTC))


@pytest.fixture
async def srv(sts: RunningEmulator, clock: FakeClock) -> AsyncIterator[Server]:
    async with alicloud_server(sts, clock) as server:
        yield server


Signer = Callable[..., dict[str, Any]]


@pytest.fixture
def signed(clock: FakeClock) -> Signer:
    """A Vault-style login body for `identity`, signed now (by the test clock)."""

    def make(
        identity: Identity,
        role: str = "dev",
        *,
        method: str = "POST",
        region: str | None = "cn-hangzhou",
        secret: str | None = None,
        host: str | None = None,
    ) -> dict[str, Any]:
        request = sign_get_caller_identity(
            identity.access_key_id,
            secret or identity.access_key_secret,
            region=region,
            security_token=identity.security_token or None,
            method=method,
            host=host,
            timestamp=datetime.fromtimestamp(clock.now(), UTC),
        )
        if method == "GET":
            return {"role": role, **request.params}
        return {"role": role, **request.login_data()}

    return make


async def make_role(srv: Server, name: str = "dev", **fields: Any) -> None:
    body = {"arn": ROLE_ARN, "token_policies": "reader,dev", **fields}
    response = await srv.call("POST", f"/v1/auth/alicloud/role/{name}", json=body)
    assert response.status_code in (200, 204), response.text


async def login(srv: Server, body: dict[str, Any], **kw: Any) -> Any:
    return await srv.call("POST", "/v1/auth/alicloud/login", token=None, json=body, **kw)


# -- role CRUD -------------------------------------------------------------------------------


async def test_role_crud_with_vault_deprecated_fields(srv: Server) -> None:
    # vault-alicloud.md §5.1: CreateRole, ReadRole, UpdateRole, ReadUpdatedRole, Delete.
    body = {
        "arn": "acs:ram::5138828231865461:role/elk",
        "policies": "default",
        "ttl": 10,
        "max_ttl": 10,
        "period": 1,
        "bound_cidrs": ["127.0.0.1/24"],
    }
    assert (await srv.call("LIST", "/v1/auth/alicloud/role")).status_code == 404
    created = await srv.call("POST", "/v1/auth/alicloud/role/elk", json=body)
    assert created.status_code == 204
    read = (await srv.call("GET", "/v1/auth/alicloud/role/elk")).json()["data"]
    assert read == {
        "arn": "acs:ram::5138828231865461:role/elk",
        "bound_cidrs": ["127.0.0.1/24"],
        "bound_session_names": [],
        "max_ttl": 10,
        "period": 1,
        "policies": ["default"],
        "token_bound_cidrs": ["127.0.0.1/24"],
        "token_explicit_max_ttl": 0,
        "token_max_ttl": 10,
        "token_no_default_policy": False,
        "token_num_uses": 0,
        "token_period": 1,
        "token_policies": ["default"],
        "token_ttl": 10,
        "token_type": "default",
        "ttl": 10,
    }
    assert (
        await srv.call("POST", "/v1/auth/alicloud/role/elk", json={"max_ttl": 100})
    ).status_code == 204
    updated = (await srv.call("GET", "/v1/auth/alicloud/role/elk")).json()["data"]
    assert (updated["ttl"], updated["max_ttl"], updated["period"]) == (10, 100, 1)
    assert updated["arn"] == body["arn"] and updated["policies"] == ["default"]
    for verb, path in (("LIST", "role"), ("LIST", "roles"), ("GET", "role?list=true")):
        listed = await srv.call(verb, f"/v1/auth/alicloud/{path}")
        assert listed.json()["data"] == {"keys": ["elk"]}
    assert (await srv.call("DELETE", "/v1/auth/alicloud/role/elk")).status_code == 204
    assert (await srv.call("GET", "/v1/auth/alicloud/role/elk")).status_code == 404
    assert (await srv.call("DELETE", "/v1/auth/alicloud/role/elk")).status_code == 204


async def test_token_fields_replace_deprecated_ones(srv: Server) -> None:
    await make_role(srv, "r", ttl="1h", token_ttl="2h", token_max_ttl="4h")
    data = (await srv.call("GET", "/v1/auth/alicloud/role/r")).json()["data"]
    assert data["token_ttl"] == 7200 and data["ttl"] == 7200
    await srv.call("POST", "/v1/auth/alicloud/role/r", json={"token_ttl": "30m"})
    data = (await srv.call("GET", "/v1/auth/alicloud/role/r")).json()["data"]
    assert data["token_ttl"] == 1800 and "ttl" not in data  # deprecated key gone once replaced
    assert data["token_policies"] == ["reader", "dev"]  # partial update kept the rest


async def test_role_names_are_case_insensitive(srv: Server) -> None:
    await make_role(srv, "Dev-Role")
    assert (await srv.call("GET", "/v1/auth/alicloud/role/DEV-ROLE")).status_code == 200
    assert (await srv.call("LIST", "/v1/auth/alicloud/roles")).json()["data"]["keys"] == [
        "dev-role"
    ]


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({}, 400, "the arn is required to create a role"),
        ({"arn": "acs:ram::1:group/x"}, 400, "acs:ram::1:group/x"),
        ({"arn": "not-an-arn"}, 400, "not-an-arn"),
        (
            {"arn": "acs:ram::12345678901234:role/dev"},
            400,
            "account '12345678901234' is not an Alibaba Cloud account id (16 digits, got 14)",
        ),
        (
            {"arn": ROLE_ARN, "token_ttl": "2h", "token_max_ttl": "1h"},
            400,
            "'token_ttl' cannot be greater than 'token_max_ttl'",
        ),
        ({"arn": ROLE_ARN, "token_ttl": "abc"}, 400, 'field "token_ttl"'),
        ({"arn": ROLE_ARN, "token_num_uses": -1}, 400, "'token_num_uses' cannot be negative"),
        ({"arn": ROLE_ARN, "token_type": "weird"}, 400, "invalid 'token_type' value \"weird\""),
        ({"arn": ROLE_ARN, "token_bound_cidrs": "not-a-cidr"}, 400, "not-a-cidr"),
        ({"arn": USER_ARN, "bound_session_names": "vm-*"}, 400, "only to role ARNs"),
    ],
)
async def test_role_validation_names_the_problem(
    srv: Server, body: dict[str, Any], status: int, needle: str
) -> None:
    response = await srv.call("POST", "/v1/auth/alicloud/role/bad", json=body)
    assert response.status_code == status
    assert needle in response.json()["errors"][0]
    assert (await srv.call("GET", "/v1/auth/alicloud/role/bad")).status_code == 404


async def test_invalid_role_name_is_400(srv: Server) -> None:
    response = await srv.call("POST", "/v1/auth/alicloud/role/-bad-", json={"arn": ROLE_ARN})
    assert response.status_code == 400 and "invalid role name" in response.json()["errors"][0]


# -- login -----------------------------------------------------------------------------------


async def test_role_arn_login_lookup_renew_revoke(
    srv: Server, sts: RunningEmulator, signed: Signer
) -> None:
    await make_role(srv, "dev", token_ttl="1h", token_max_ttl="3h")
    response = await login(srv, signed(ROLE, "DEV"))  # role names are case-insensitive
    assert response.status_code == 200, response.text
    body = response.json()
    auth = body["auth"]
    assert list(auth) == AUTH_KEYS
    assert auth["policies"] == ["default", "dev", "reader"]
    assert auth["lease_duration"] == 3600 and auth["renewable"] is True
    assert auth["metadata"] == {
        "account_id": ACCOUNT,
        "arn": ROLE.arn,
        "identity_type": "AssumedRoleUser",
        "principal_id": ROLE.principal_id,
        "request_id": auth["metadata"]["request_id"],
        "role_id": ROLE.role_id,
        "role_name": "dev",
        "user_id": "",
    }
    assert auth["metadata"]["request_id"]
    assert sts.state.request_count == 1
    token = auth["client_token"]

    lookup = (await srv.call("GET", "/v1/auth/token/lookup-self", token=token)).json()["data"]
    assert lookup["path"] == "auth/alicloud/login"
    assert lookup["display_name"] == f"alicloud-{ROLE.principal_id}"
    assert lookup["meta"]["arn"] == ROLE.arn

    # Renewal applies the role's current TTL.
    await srv.call("POST", "/v1/auth/alicloud/role/dev", json={"token_ttl": "2h"})
    srv.clock.advance(600)
    renewed = await srv.call("POST", "/v1/auth/token/renew-self", token=token)
    assert renewed.status_code == 200 and renewed.json()["auth"]["lease_duration"] == 7200

    assert (await srv.call("POST", "/v1/auth/token/revoke-self", token=token)).status_code == 204
    assert (await srv.call("GET", "/v1/auth/token/lookup-self", token=token)).status_code == 403


async def test_user_arn_login_with_long_term_keys(srv: Server, signed: Signer) -> None:
    await make_role(srv, "alice", arn=USER_ARN)
    auth = (await login(srv, signed(USER, "alice"))).json()["auth"]
    assert auth["metadata"]["arn"] == USER.arn and auth["metadata"]["user_id"] == USER.user_id
    # A user ARN matches exactly that user: the role identity cannot use it.
    denied = await login(srv, signed(ROLE, "alice"))
    assert denied.status_code == 403


@pytest.mark.parametrize("identity", [ROLE, USER], ids=["sts-credentials", "access-key"])
async def test_signed_parameter_form_replays_with_get(
    srv: Server, sts: RunningEmulator, signed: Signer, identity: Identity
) -> None:
    await make_role(srv, "dev", arn=ROLE_ARN if identity is ROLE else USER_ARN)
    body = signed(identity, "dev", method="GET")
    assert "SecurityToken" in body or identity is USER
    response = await login(srv, body)
    assert response.status_code == 200, response.text
    assert response.json()["auth"]["metadata"]["arn"] == identity.arn


async def test_every_vault_header_shape_logs_in(srv: Server, signed: Signer) -> None:
    await make_role(srv, "dev")
    body = signed(ROLE)
    headers_json = base64.b64decode(body["identity_request_headers"]).decode()
    for shape in (
        headers_json,
        {"X-Test": "1"},
        ["Content-Type: application/x-www-form-urlencoded"],
    ):
        fresh = signed(ROLE)
        fresh["identity_request_headers"] = shape
        response = await login(srv, fresh)
        assert response.status_code == 200, (shape, response.text)


async def test_session_name_globs(srv: Server, signed: Signer) -> None:
    await make_role(srv, "ecs", bound_session_names="vm-ram-i-*")
    assert (await login(srv, signed(ROLE, "ecs"))).status_code == 403  # session "session-1"
    await srv.call("POST", "/v1/auth/alicloud/role/ecs", json={"bound_session_names": "session-*"})
    assert (await login(srv, signed(ROLE, "ecs"))).status_code == 200


async def test_ttl_capped_by_mount_max_with_warning(srv: Server, signed: Signer) -> None:
    await make_role(srv, "dev", token_ttl="100h")
    body = (await login(srv, signed(ROLE))).json()
    assert body["auth"]["lease_duration"] == 24 * 3600
    assert body["warnings"] == [
        'TTL of "100h" exceeded the effective max_ttl of "24h"; TTL value is capped accordingly'
    ]


# -- refusals before STS ---------------------------------------------------------------------


def _url_body(signed_body: dict[str, Any], url: str) -> dict[str, Any]:
    return {**signed_body, "identity_request_url": base64.b64encode(url.encode()).decode()}


def _decoded_url(body: dict[str, Any]) -> str:
    return base64.b64decode(body["identity_request_url"]).decode()


REFUSALS: list[tuple[str, Callable[[dict[str, Any]], dict[str, Any]], int, str]] = [
    ("no role", lambda b: {k: v for k, v in b.items() if k != "role"}, 400, "missing role"),
    ("no url", lambda b: {"role": "dev"}, 400, "missing identity_request_url"),
    ("not base64", lambda b: {**b, "identity_request_url": "%%%"}, 400, "base64"),
    (
        "no headers",
        lambda b: {**b, "identity_request_headers": {}},
        400,
        "identity_request_headers",
    ),
    (
        "CR/LF header",
        lambda b: {**b, "identity_request_headers": {"X-A": "1\r\nHost: evil"}},
        400,
        "identity_request_headers",
    ),
    ("http", lambda b: _url_body(b, _decoded_url(b).replace("https://", "http://")), 400, "https"),
    (
        "evil host",
        lambda b: _url_body(
            b,
            _decoded_url(b).replace(
                "sts.cn-hangzhou.aliyuncs.com", "sts.cn-hangzhou.aliyuncs.com.evil.com"
            ),
        ),
        400,
        "host",
    ),
    (
        "userinfo",
        lambda b: _url_body(b, _decoded_url(b).replace("https://", "https://u:p@")),
        400,
        "",
    ),
    ("port", lambda b: _url_body(b, _decoded_url(b).replace(".com/", ".com:8443/")), 400, "port"),
    ("path", lambda b: _url_body(b, _decoded_url(b).replace(".com/?", ".com/x?")), 400, "path"),
    (
        "region mismatch",
        lambda b: _url_body(
            b, _decoded_url(b).replace("RegionId=cn-hangzhou", "RegionId=us-east-1")
        ),
        400,
        "RegionId",
    ),
    (
        "action",
        lambda b: _url_body(b, _decoded_url(b).replace("GetCallerIdentity", "AssumeRole")),
        400,
        "Action",
    ),
    (
        "format",
        lambda b: _url_body(b, _decoded_url(b).replace("Format=JSON", "Format=XML")),
        400,
        "Format",
    ),
    ("both forms", lambda b: {**b, "Action": "GetCallerIdentity"}, 400, "not both"),
]


@pytest.mark.parametrize(
    ("name", "mutate", "status", "needle"), REFUSALS, ids=[r[0] for r in REFUSALS]
)
async def test_refused_logins_send_nothing_to_sts(
    srv: Server,
    sts: RunningEmulator,
    signed: Signer,
    caplog: pytest.LogCaptureFixture,
    name: str,
    mutate: Callable[[dict[str, Any]], dict[str, Any]],
    status: int,
    needle: str,
) -> None:
    await make_role(srv, "dev")
    body = signed(ROLE)
    signature = _decoded_url(body).split("Signature=")[1].split("&")[0]
    with caplog.at_level(logging.DEBUG):
        response = await login(srv, mutate(body))
    assert response.status_code == status, response.text
    assert needle in response.json()["errors"][0]
    assert sts.state.request_count == 0
    # Nothing secret in the answer or the log: not the signature, not the security token.
    for text in (response.text, caplog.text):
        assert signature not in text and "CAIS" not in text


async def test_stale_timestamp_refused_before_sts(
    srv: Server, sts: RunningEmulator, signed: Signer, clock: FakeClock
) -> None:
    await make_role(srv, "dev")
    body = signed(ROLE)
    clock.advance(16 * 60)
    response = await login(srv, body)
    assert response.status_code == 400 and "Timestamp" in response.json()["errors"][0]
    assert sts.state.request_count == 0


async def test_replayed_request_refused_before_sts(
    srv: Server, sts: RunningEmulator, signed: Signer
) -> None:
    await make_role(srv, "dev")
    body = signed(ROLE)
    assert (await login(srv, body)).status_code == 200
    again = await login(srv, body)
    assert again.status_code == 400 and "SignatureNonce" in again.json()["errors"][0]
    assert sts.state.request_count == 1


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_nonce_is_shared_by_servers_on_one_database(
    sts: RunningEmulator,
    clock: FakeClock,
    signed: Signer,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    backend: str,
) -> None:
    storage = (await backend_config(request, backend, tmp_path)).storage
    async with (
        alicloud_server(sts, clock, storage=storage) as first,
        alicloud_server(sts, clock, storage=storage) as second,
    ):
        await make_role(first, "dev")
        body = signed(ROLE)
        assert (await login(first, body)).status_code == 200
        assert (await login(second, body)).status_code == 400
    assert sts.state.request_count == 1


async def test_bound_cidrs_refuse_logins_from_outside(
    srv: Server, sts: RunningEmulator, signed: Signer
) -> None:
    await make_role(srv, "dev", token_bound_cidrs="10.0.0.0/8")
    outside = await login(srv, signed(ROLE))
    # Refused like an unknown role or a foreign identity (test_enumeration.py): after STS.
    assert outside.status_code == 403
    assert outside.json() == {"errors": ["the caller's identity cannot log in with this role"]}
    inside = await srv.client_from("10.1.2.3")
    response = await login(srv, signed(ROLE), client=inside)
    assert response.status_code == 200
    token = response.json()["auth"]["client_token"]
    # The token itself is bound too: refused from 127.0.0.1, accepted from inside.
    assert (await srv.call("GET", "/v1/auth/token/lookup-self", token=token)).status_code == 403
    lookup = await srv.call("GET", "/v1/auth/token/lookup-self", token=token, client=inside)
    assert lookup.status_code == 200


# -- STS rejections and faults ---------------------------------------------------------------


async def test_wrong_secret_names_only_the_sts_code(srv: Server, signed: Signer) -> None:
    await make_role(srv, "dev")
    response = await login(srv, signed(ROLE, secret="not-the-secret"))
    assert response.status_code == 403
    error = response.json()["errors"][0]
    assert "SignatureDoesNotMatch" in error and "string to sign" not in error
    assert "GetCallerIdentity" not in error


async def test_caller_of_another_role_or_root_is_refused(srv: Server, signed: Signer) -> None:
    await make_role(srv, "other", arn=f"acs:ram::{ACCOUNT}:role/other-role")
    assert (await login(srv, signed(ROLE, "other"))).status_code == 403
    assert (await login(srv, signed(ROOT, "other"))).status_code == 403


@pytest.mark.parametrize(
    ("fault", "status"),
    [("http500", 502), ("garbage", 502), ("huge", 502), ("redirect", 502), ("slow:3", 504)],
)
async def test_sts_faults_are_502_or_504(
    sts: RunningEmulator, clock: FakeClock, signed: Signer, fault: str, status: int
) -> None:
    async with alicloud_server(sts, clock, timeout=1, connect_timeout=1) as srv:
        await make_role(srv, "dev")
        sts.state.fault = fault
        response = await login(srv, signed(ROLE))
    assert response.status_code == status, response.text
    assert "CAIS" not in response.text and "Signature" not in response.text


async def test_unreachable_sts_is_502(clock: FakeClock, signed: Signer) -> None:
    unreachable = RunningEmulator.__new__(RunningEmulator)
    unreachable.url = "http://127.0.0.1:9"  # discard port: connection refused
    async with alicloud_server(unreachable, clock) as srv:
        await make_role(srv, "dev")
        response = await login(srv, signed(ROLE))
    assert response.status_code == 502


# -- renewal re-checks the role --------------------------------------------------------------


async def test_renew_fails_once_the_role_is_gone_or_changed(srv: Server, signed: Signer) -> None:
    await make_role(srv, "dev")
    token = (await login(srv, signed(ROLE))).json()["auth"]["client_token"]
    await srv.call("POST", "/v1/auth/alicloud/role/dev", json={"arn": f"acs:ram::{ACCOUNT}:role/x"})
    changed = await srv.call("POST", "/v1/auth/token/renew-self", token=token)
    assert changed.status_code == 403
    await srv.call("DELETE", "/v1/auth/alicloud/role/dev")
    gone = await srv.call("POST", "/v1/auth/token/renew-self", token=token)
    assert gone.status_code == 403 and "no longer exists" in gone.json()["errors"][0]


async def test_mount_config_is_validated(srv: Server) -> None:
    response = await srv.call(
        "POST", "/v1/sys/auth/other", json={"type": "alicloud", "options": {"bogus": 1}}
    )
    assert response.status_code == 400 and "bogus" in response.json()["errors"][0]
    response = await srv.call(
        "POST",
        "/v1/sys/auth/other",
        json={"type": "alicloud", "options": {"sts_endpoint": "ftp://x/y"}},
    )
    assert response.status_code == 400 and "sts_endpoint" in response.json()["errors"][0]
