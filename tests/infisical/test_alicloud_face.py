"""AliCloud auth on the Infisical face, in process, against the STS emulator on loopback (real
signatures, real sockets for the replay). Bodies are signed by `docs_sample_signer`, a port of
Infisical's docs' Node sample, or are the STS test vectors themselves."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from core.config import AuthMountConfig, Config, StorageConfig
from core.registry import default_registry
from plugins.alicloud.emulator import Identity
from tests.alicloud.conftest import (
    ACCOUNT,
    IDENTITIES,
    ROLE,
    ROOT,
    USER,
    RunningEmulator,
    StartEmulator,
)
from tests.alicloud.conftest import start_emulator as start_emulator  # the fixture
from tests.conftest import STORAGE_BACKENDS, FakeClock, backend_config, start_server
from tests.infisical.conftest import Face, assert_error, bearer
from tests.infisical.docs_sample_signer import docs_login_body, docs_signature

VECTORS: dict[str, dict[str, Any]] = json.loads(
    (Path(__file__).parents[1] / "data" / "alibaba-sts-vectors.json").read_text()
)
AK_SECRET = "FakeAccessKeySecret0123456789ab"
OTHER_ACCOUNT = "6543210987654321"
STRANGER = Identity(
    access_key_id="LTAI5tOtherAccountKey01",
    access_key_secret="OtherAccountSecret01",
    arn=f"acs:ram::{OTHER_ACCOUNT}:user/alice",
    account_id=OTHER_ACCOUNT,
    identity_type="RAMUser",
    principal_id="400000000000000001",
    user_id="400000000000000001",
)
VECTOR_KEY = Identity(
    access_key_id="LTAI5tFakeAccessKeyId123",
    access_key_secret=AK_SECRET,
    arn=f"acs:ram::{ACCOUNT}:user/vector",
    account_id=ACCOUNT,
    identity_type="RAMUser",
    principal_id="200000000000000009",
    user_id="200000000000000009",
)
LOGIN = "auth/alicloud-auth/login"
CONFIG = "auth/alicloud-auth/identities/"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC).timestamp())


@pytest.fixture
async def sts(start_emulator: StartEmulator, clock: FakeClock) -> RunningEmulator:
    return await start_emulator(
        [*IDENTITIES, STRANGER, VECTOR_KEY],
        clock=lambda: datetime.fromtimestamp(clock.now(), UTC),
    )


@contextlib.asynccontextmanager
async def alicloud_face(
    clock: FakeClock, sts_endpoint: str, config: Config | None = None, **mount: Any
) -> AsyncIterator[Face]:
    config = config or Config(storage=StorageConfig(backend="memory"))
    config.auth.append(
        AuthMountConfig(
            path="alicloud", type="alicloud", config={"sts_endpoint": sts_endpoint, **mount}
        )
    )
    registry = default_registry(include_entry_points=False)
    async with start_server(config, registry=registry, clock=clock) as srv:
        yield Face(srv)


@pytest.fixture(params=STORAGE_BACKENDS)
async def face(
    request: pytest.FixtureRequest, tmp_path: Path, sts: RunningEmulator, clock: FakeClock
) -> AsyncIterator[Face]:
    """The face on each storage backend (nonces, identities and tokens live in the storage)."""
    config = await backend_config(request, request.param, tmp_path)
    async with alicloud_face(clock, sts.url, config) as found:
        yield found


async def identity_with(face: Face, allowed_arns: str, **body: Any) -> str:
    identity = await face.identity(policies=["app"])
    response = await face.call(
        "POST", CONFIG + identity["id"], json={"allowedArns": allowed_arns, **body}
    )
    assert response.status_code == 200, response.text
    identity_id: str = identity["id"]
    return identity_id


def body_for(face: Face, who: Identity, identity_id: str, **extra: Any) -> dict[str, Any]:
    now = datetime.fromtimestamp(face.server.clock.now(), UTC)
    return docs_login_body(
        identity_id,
        who.access_key_id,
        who.access_key_secret,
        now,
        security_token=who.security_token,
        **extra,
    )


async def test_the_independent_signer_reproduces_vector_e() -> None:
    vector = VECTORS["E_infisical_shape_GET"]
    assert docs_signature(vector["signed_params"], AK_SECRET) == vector["signature"]


async def test_vector_e_body_logs_in_exactly_as_recorded(start_emulator: StartEmulator) -> None:
    vector = VECTORS["E_infisical_shape_GET"]
    signed_at = datetime(2025, 6, 11, 8, 15, 30, 123000, UTC).timestamp()
    clock = FakeClock(signed_at + 5)
    sts = await start_emulator([VECTOR_KEY], clock=lambda: datetime.fromtimestamp(clock.now(), UTC))
    async with alicloud_face(clock, sts.url) as face:
        identity_id = await identity_with(face, VECTOR_KEY.arn)
        body = {
            "identityId": identity_id,
            "Signature": vector["signature"],
            **vector["signed_params"],
        }
        response = await face.call("POST", LOGIN, token=None, json=body)
        assert response.status_code == 200, response.text
        assert sts.state.request_count == 1
        # N1: vector A's parameters (Format "json") are refused by the schema, before STS.
        refused = {"identityId": identity_id, **VECTORS["A_newsdk_ramuser_POST"]["signed_params"]}
        issues = assert_error(
            await face.call("POST", LOGIN, token=None, json=refused), 422, "ValidationFailure"
        )
        assert issues[0]["path"] == ["Format"] and issues[0]["code"] == "invalid_enum_value"
        assert sts.state.request_count == 1


async def test_login_answer_token_and_metadata(face: Face) -> None:
    identity_id = await identity_with(face, USER.arn, accessTokenTTL=900, accessTokenMaxTTL=3600)
    body = body_for(face, USER, identity_id, organizationSlug="my-org", subOrganizationName="sub")
    response = await face.call("POST", LOGIN, token=None, json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["expiresIn"] == 900 and answer["accessTokenMaxTTL"] == 3600
    lookup = await face.server.client.get(
        "/v1/auth/token/lookup-self", headers=bearer(answer["accessToken"])
    )
    meta = lookup.json()["data"]["meta"]
    assert meta["arn"] == USER.arn and meta["account_id"] == ACCOUNT
    assert meta["auth_method"] == "alicloud-auth" and meta["identity_id"] == identity_id
    assert lookup.json()["data"]["policies"] == ["app", "default"]


async def test_sts_temporary_credentials_and_role_sessions(face: Face) -> None:
    identity_id = await identity_with(face, f"acs:ram::{ACCOUNT}:role/dev-role")
    ok = await face.call("POST", LOGIN, token=None, json=body_for(face, ROLE, identity_id))
    assert ok.status_code == 200, ok.text
    # An STS. key without its SecurityToken: refused by the schema (STS would refuse it too).
    body = body_for(face, ROLE, identity_id)
    del body["SecurityToken"]
    issues = assert_error(
        await face.call("POST", LOGIN, token=None, json=body), 422, "ValidationFailure"
    )
    assert issues == [
        {
            "code": "custom",
            "path": ["SecurityToken"],
            "message": "SecurityToken is required with temporary (STS.) credentials",
        }
    ]


@pytest.mark.parametrize(
    ("allowed_arns", "who", "admitted"),
    [
        (f"acs:ram::{ACCOUNT}:user/alice", USER, True),
        (f"acs:ram::{ACCOUNT}:user/alic", USER, False),
        (f"acs:ram::{ACCOUNT}:user/ali*", USER, True),
        (f"acs:ram::{ACCOUNT}:assumed-role/dev-role/session-1", ROLE, True),
        (f"acs:ram::{ACCOUNT}:assumed-role/dev-role/session-2", ROLE, False),
        (f"acs:ram::{ACCOUNT}:assumed-role/dev-role/*", ROLE, True),
        (f"acs:ram::{ACCOUNT}:role/other-role, acs:ram::{ACCOUNT}:user/alice", USER, True),
        (f"acs:ram::{ACCOUNT}:role/dev-role", USER, False),
        (f"acs:ram::{ACCOUNT}:user/*", ROOT, False),  # the account's root never matches
        (f"acs:ram::{ACCOUNT}:user/alice", STRANGER, False),  # same name, other account
    ],
)
async def test_arn_matching(face: Face, allowed_arns: str, who: Identity, admitted: bool) -> None:
    identity_id = await identity_with(face, allowed_arns)
    response = await face.call("POST", LOGIN, token=None, json=body_for(face, who, identity_id))
    if admitted:
        assert response.status_code == 200, response.text
    else:
        message = assert_error(response, 401, "UnauthorizedError")
        assert message == "Access denied: Alibaba Cloud account ARN not allowed."


async def test_allowed_arns_validation(face: Face) -> None:
    identity = await face.identity()
    cases = {
        ",": "At least one ARN is required",
        " , ": "At least one ARN is required",
        "": "Allowed ARNs required",
        f"acs:ram::{ACCOUNT}:root": "One or more ARNs are invalid",
        "acs:ram::123:user/alice": "One or more ARNs are invalid",
        f"acs:ram::{ACCOUNT}:user/a*b": "One or more ARNs are invalid",
        f"acs:ram::{ACCOUNT}:user/"
        + "a" * 500: "Input exceeds the maximum limit of 500 characters",
    }
    for value, message in cases.items():
        response = await face.call("POST", CONFIG + identity["id"], json={"allowedArns": value})
        issues = assert_error(response, 422, "ValidationFailure")
        assert [(i["path"], i["message"]) for i in issues] == [(["allowedArns"], message)], value
    missing = await face.call("POST", CONFIG + identity["id"], json={})
    assert assert_error(missing, 422, "ValidationFailure")[0]["path"] == ["allowedArns"]
    stored = await face.call(
        "POST",
        CONFIG + identity["id"],
        json={"allowedArns": f" acs:ram::{ACCOUNT}:user/a ,acs:ram::{ACCOUNT}:role/r, "},
    )
    shown = stored.json()["identityAliCloudAuth"]
    assert shown["allowedArns"] == f"acs:ram::{ACCOUNT}:user/a, acs:ram::{ACCOUNT}:role/r"
    assert shown["type"] == "iam"
    # Update: allowedArns is optional, validated when sent.
    patched = await face.call("PATCH", CONFIG + identity["id"], json={"accessTokenTTL": 60})
    assert patched.json()["identityAliCloudAuth"]["allowedArns"] == shown["allowedArns"]
    refused = await face.call("PATCH", CONFIG + identity["id"], json={"allowedArns": ","})
    assert_error(refused, 422, "ValidationFailure")


async def test_login_schema_is_infisicals(face: Face) -> None:
    identity_id = await identity_with(face, USER.arn)
    good = body_for(face, USER, identity_id)
    cases: list[tuple[dict[str, Any], list[Any], str]] = [
        ({"Format": "json"}, ["Format"], "invalid_enum_value"),
        ({"Timestamp": "2025-06-11T08:15:30+00:00"}, ["Timestamp"], "custom"),
        ({"AccessKeyId": "LTAI-bad"}, ["AccessKeyId"], "custom"),
        ({"Version": "2015-4-1"}, ["Version"], "custom"),
        ({"SignatureNonce": "a b"}, ["SignatureNonce"], "custom"),
        ({"Signature": "not base64!"}, ["Signature"], "custom"),
        ({"Action": "AssumeRole"}, ["Action"], "invalid_enum_value"),
        ({"organizationSlug": "Not A Slug"}, ["organizationSlug"], "invalid_string"),
        ({"identityId": 5}, ["identityId"], "invalid_type"),
    ]
    for change, path, code in cases:
        response = await face.call("POST", LOGIN, token=None, json={**good, **change})
        issues = assert_error(response, 422, "ValidationFailure")
        assert [(i["path"], i["code"]) for i in issues] == [(path, code)], change
    body = dict(good)
    del body["Signature"]
    issues = assert_error(
        await face.call("POST", LOGIN, token=None, json=body), 422, "ValidationFailure"
    )
    assert issues == [
        {
            "code": "invalid_type",
            "expected": "string",
            "received": "undefined",
            "path": ["Signature"],
            "message": "Required",
        }
    ]
    assert face.server.clock  # nothing above reached STS
    unknown = await face.call(
        "POST", LOGIN, token=None, json=body_for(face, USER, "6f1b7ad4-3c1e-4a35-9a31-6a7f1d1c0c11")
    )
    assert_error(unknown, 404, "NotFound")
    not_uuid = await face.call("POST", LOGIN, token=None, json=body_for(face, USER, "nope"))
    assert_error(not_uuid, 404, "NotFound")


async def test_replays_and_stale_timestamps_are_refused_before_sts(
    face: Face, sts: RunningEmulator
) -> None:
    identity_id = await identity_with(face, USER.arn)
    body = body_for(face, USER, identity_id)
    assert (await face.call("POST", LOGIN, token=None, json=body)).status_code == 200
    calls = sts.state.request_count
    replay = await face.call("POST", LOGIN, token=None, json=body)
    assert assert_error(replay, 401, "UnauthorizedError") == "SignatureNonce was already used"
    stale = body_for(face, USER, identity_id)
    face.server.clock.advance(901)
    assert_error(await face.call("POST", LOGIN, token=None, json=stale), 401, "UnauthorizedError")
    assert sts.state.request_count == calls


async def test_untrusted_ip_is_refused_before_sts(face: Face, sts: RunningEmulator) -> None:
    identity_id = await identity_with(
        face, USER.arn, accessTokenTrustedIps=[{"ipAddress": "10.0.0.0/8"}]
    )
    response = await face.call("POST", LOGIN, token=None, json=body_for(face, USER, identity_id))
    message = assert_error(response, 403, "ForbiddenError")
    assert message == "You are not allowed to access this resource from the current IP address"
    assert sts.state.request_count == 0
    inside = await face.server.client_from("10.9.8.7")
    allowed = await face.call(
        "POST", LOGIN, token=None, client=inside, json=body_for(face, USER, identity_id)
    )
    assert allowed.status_code == 200, allowed.text


async def test_sts_refusals_are_mapped_never_echoed(face: Face, sts: RunningEmulator) -> None:
    identity_id = await identity_with(face, USER.arn)
    wrong = body_for(face, USER, identity_id)
    wrong["Signature"] = docs_signature(
        {k: v for k, v in wrong.items() if k not in ("identityId", "Signature")}, "WrongSecret"
    )
    response = await face.call("POST", LOGIN, token=None, json=wrong)
    message = assert_error(response, 401, "UnauthorizedError")
    assert message == "Alibaba Cloud rejected the signed request (SignatureDoesNotMatch)"
    assert "GET&" not in response.text

    sts.state.fault = "throttle"
    throttled = await face.call("POST", LOGIN, token=None, json=body_for(face, USER, identity_id))
    assert assert_error(throttled, 429, "RateLimitExceeded") == (
        "Alibaba Cloud STS throttled the request"
    )
    sts.state.fault = "http500"
    failed = await face.call("POST", LOGIN, token=None, json=body_for(face, USER, identity_id))
    assert assert_error(failed, 502, "BadGateway") == "Alibaba Cloud STS unavailable"
    sts.state.fault = "garbage"
    garbled = await face.call("POST", LOGIN, token=None, json=body_for(face, USER, identity_id))
    assert_error(garbled, 502, "BadGateway")


@contextlib.contextmanager
def silent_listener() -> Iterator[str]:
    """A socket that accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


async def test_unreachable_sts_is_502_and_silent_sts_504(clock: FakeClock) -> None:
    async with alicloud_face(clock, closed_port()) as face:
        identity_id = await identity_with(face, USER.arn)
        response = await face.call(
            "POST", LOGIN, token=None, json=body_for(face, USER, identity_id)
        )
        assert assert_error(response, 502, "BadGateway") == "Alibaba Cloud STS unavailable"
    with silent_listener() as url:
        async with alicloud_face(clock, url, timeout=1) as face:
            identity_id = await identity_with(face, USER.arn)
            body = body_for(face, USER, identity_id)
            response = await face.call("POST", LOGIN, token=None, json=body)
            assert assert_error(response, 504, "GatewayTimeoutError") == (
                "Alibaba Cloud STS unavailable"
            )


async def test_login_audit_entry_hashes_the_signed_request(face: Face, tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    device = {"type": "file", "options": {"file_path": str(log)}}
    assert (await face.server.call("PUT", "/v1/sys/audit/file", json=device)).status_code == 204
    identity_id = await identity_with(face, ROLE.arn)
    body = body_for(face, ROLE, identity_id)
    response = await face.call("POST", LOGIN, token=None, json=body)
    assert response.status_code == 200, response.text
    logged = [json.loads(line) for line in log.read_text().splitlines()]
    request, answer = (e for e in logged if e["request"]["path"] == "api/v1/" + LOGIN)
    assert request["request"]["mount_type"] == "alicloud"
    sent = request["request"]["data"]
    for name in ("Signature", "AccessKeyId", "SecurityToken", "SignatureNonce", "identityId"):
        assert sent[name].startswith("hmac-sha256:"), name
    # Who logged in is in clear (the token's metadata), as in the /v1/ login's entry.
    assert answer["auth"]["metadata"]["arn"] == ROLE.arn
    text = log.read_text()
    for secret in (body["Signature"], body["SecurityToken"], response.json()["accessToken"]):
        assert secret not in text
