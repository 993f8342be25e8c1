"""The STS emulator, over real HTTP under Hypercorn: verification, check order, bodies, faults."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from plugins.alicloud.arn import ArnType, parse_caller
from plugins.alicloud.emulator import (
    Identity,
    build_emulator_app,
    demo_identities,
    load_identities,
)
from plugins.alicloud.signer import (
    SignedRequest,
    percent_encode,
    sign,
    sign_get_caller_identity,
    string_to_sign,
)

from .conftest import DISABLED, ROLE, ROOT, USER, RunningEmulator, StartEmulator, query_of
from .test_signer import AK_SECRET, STS_SECRET, VECTORS

KEEP = object()


def signed_for(
    identity: Identity,
    *,
    method: str = "POST",
    secret: str | None = None,
    token: Any = KEEP,
    timestamp: datetime | None = None,
    nonce: str | None = None,
) -> SignedRequest:
    return sign_get_caller_identity(
        identity.access_key_id,
        secret or identity.access_key_secret,
        region="cn-hangzhou",
        security_token=identity.security_token if token is KEEP else token,
        method=method,
        timestamp=timestamp,
        nonce=nonce,
    )


def encode(params: dict[str, str]) -> str:
    return "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in params.items())


def resigned(params: dict[str, str], method: str, secret: str, **changes: str | None) -> str:
    merged = {k: v for k, v in {**params, **changes}.items() if v is not None}
    merged.pop("Signature", None)
    merged["Signature"] = sign(method, merged, secret)
    return encode(merged)


async def send(
    emulator: RunningEmulator,
    query: str,
    method: str = "POST",
    path: str = "/",
    **kwargs: Any,
) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.request(method, f"{emulator.url}{path}?{query}", **kwargs)


async def send_signed(emulator: RunningEmulator, signed: SignedRequest, method: str = "") -> Any:
    response = await send(emulator, query_of(signed.url), method or signed.method)
    return response.status_code, response.json()


# --- success -------------------------------------------------------------------------------


async def test_assumed_role_body(emulator: RunningEmulator) -> None:
    status, body = await send_signed(emulator, signed_for(ROLE))
    assert status == 200
    assert set(body) == {"RequestId", "AccountId", "Arn", "IdentityType", "PrincipalId", "RoleId"}
    assert body["Arn"] == ROLE.arn
    assert body["IdentityType"] == "AssumedRoleUser"
    assert body["RoleId"] == ROLE.role_id
    assert body["PrincipalId"] == ROLE.principal_id
    assert body["RequestId"] == str(uuid.UUID(body["RequestId"])).upper()


async def test_ram_user_and_root_bodies(emulator: RunningEmulator) -> None:
    _, user = await send_signed(emulator, signed_for(USER))
    assert set(user) == {"RequestId", "AccountId", "Arn", "IdentityType", "PrincipalId", "UserId"}
    assert (user["IdentityType"], user["UserId"]) == ("RAMUser", USER.user_id)
    _, root = await send_signed(emulator, signed_for(ROOT, method="GET"))
    assert (root["IdentityType"], root["Arn"], root["UserId"]) == (
        "Account",
        ROOT.arn,
        ROOT.user_id,
    )


async def test_response_content_type_and_counter(emulator: RunningEmulator) -> None:
    assert emulator.state.request_count == 0
    response = await send(emulator, query_of(signed_for(USER).url))
    assert response.headers["content-type"] == "application/json;charset=utf-8"
    assert emulator.state.request_count == 1


async def test_xml_when_format_is_not_json(emulator: RunningEmulator) -> None:
    params = signed_for(USER).params
    response = await send(emulator, resigned(params, "POST", USER.access_key_secret, Format="XML"))
    assert response.status_code == 200
    assert response.text.startswith("<?xml")
    assert f"<Arn>{USER.arn}</Arn>" in response.text
    no_format = resigned(params, "POST", USER.access_key_secret, Format=None)
    assert (await send(emulator, no_format)).text.startswith("<?xml")


async def test_post_form_body_parameters_are_signed_too(emulator: RunningEmulator) -> None:
    params = dict(signed_for(USER).params)
    params.pop("Signature")
    params["Signature"] = sign("POST", params, USER.access_key_secret)
    in_body = {k: params.pop(k) for k in ("Timestamp", "SignatureNonce", "Signature")}
    response = await send(
        emulator,
        encode(params),
        content=encode(in_body),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200, response.text
    # Without the form content type the body is not parameters: Timestamp is then missing.
    params2 = dict(signed_for(USER).params)
    body2 = {k: params2.pop(k) for k in ("Timestamp",)}
    response = await send(emulator, encode(params2), content=encode(body2))
    assert response.json()["Code"] == "MissingTimestamp"


# --- the published vectors, with the emulator's clock pinned to their time ------------------

VECTOR_IDENTITIES = [
    Identity(
        access_key_id="LTAI5tFakeAccessKeyId123",
        access_key_secret=AK_SECRET,
        arn="acs:ram::1733057948060001:user/alice",
        account_id="1733057948060001",
        identity_type="RAMUser",
        principal_id="204070465786810001",
        user_id="204070465786810001",
    ),
    Identity(
        access_key_id="STS.NUgYrLnoC63mHtFkUL5MeF8r",
        access_key_secret=STS_SECRET,
        security_token="CAIS+gF1q6Ft5B2yfSjIr5fake/Token+With/Slash=AndPlus==GhoAbC",
        arn="acs:ram::1913176839120001:assumed-role/my-role/my-session",
        account_id="1913176839120001",
        identity_type="AssumedRoleUser",
        principal_id="300044677176060001:my-session",
        role_id="300044677176060001",
    ),
]
VECTOR_TIME = datetime(2025, 1, 15, 8, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("name", "now"),
    [
        ("A_newsdk_ramuser_POST", VECTOR_TIME),
        ("B_newsdk_ststoken_POST", VECTOR_TIME),
        ("C_oldsdk_ramuser_POST", VECTOR_TIME),
        ("D_oldsdk_ststoken_GET", VECTOR_TIME),
        ("E_infisical_shape_GET", datetime(2025, 6, 11, 8, 16, tzinfo=UTC)),
    ],
)
async def test_emulator_accepts_every_sdk_vector(
    start_emulator: StartEmulator, name: str, now: datetime
) -> None:
    emulator = await start_emulator(VECTOR_IDENTITIES, clock=lambda: now)
    v = VECTORS[name]
    response = await send(emulator, query_of(v["url"]), v["method"])
    assert response.status_code == 200, response.text


async def test_vector_n1_post_url_sent_as_get(start_emulator: StartEmulator) -> None:
    emulator = await start_emulator(VECTOR_IDENTITIES, clock=lambda: VECTOR_TIME)
    response = await send(emulator, query_of(VECTORS["A_newsdk_ramuser_POST"]["url"]), "GET")
    body = response.json()
    assert (response.status_code, body["Code"]) == (400, "SignatureDoesNotMatch")
    n1 = VECTORS["N1_vectorA_replayed_as_GET"]["server_string_to_sign"]
    assert body["Message"] == (
        f"Specified signature is not matched with our calculation. server string to sign is:{n1}"
    )


async def test_vector_n2_wrong_secret(start_emulator: StartEmulator) -> None:
    emulator = await start_emulator(VECTOR_IDENTITIES, clock=lambda: VECTOR_TIME)
    a = VECTORS["A_newsdk_ramuser_POST"]
    query = encode(
        {**a["signed_params"], "Signature": VECTORS["N2_vectorA_wrong_secret"]["client_signature"]}
    )
    response = await send(emulator, query)
    assert response.json()["Code"] == "SignatureDoesNotMatch"
    assert a["string_to_sign"] in response.json()["Message"]


# --- refusals --------------------------------------------------------------------------------


async def error(emulator: RunningEmulator, query: str, method: str = "POST") -> tuple[int, str]:
    response = await send(emulator, query, method)
    body = response.json()
    assert set(body) == {"RequestId", "HostId", "Code", "Message", "Recommend"}
    assert body["HostId"] == "127.0.0.1"
    assert f"q={body['Code']}&product=Sts&requestId={body['RequestId']}" in body["Recommend"]
    return response.status_code, body["Code"]


async def test_wrong_secret(emulator: RunningEmulator) -> None:
    query = query_of(signed_for(USER, secret="WrongSecret").url)
    assert await error(emulator, query) == (400, "SignatureDoesNotMatch")


async def test_get_signed_request_replayed_as_post(emulator: RunningEmulator) -> None:
    query = query_of(signed_for(USER, method="GET").url)
    assert await error(emulator, query, "POST") == (400, "SignatureDoesNotMatch")


async def test_replayed_nonce(emulator: RunningEmulator) -> None:
    signed = signed_for(USER)
    assert (await send_signed(emulator, signed))[0] == 200
    assert await error(emulator, query_of(signed.url)) == (400, "SignatureNonceUsed")
    # Nonces are network-wide, not per key.
    other = signed_for(ROOT, nonce=signed.params["SignatureNonce"])
    assert await error(emulator, query_of(other.url)) == (400, "SignatureNonceUsed")


async def test_a_nonce_is_recorded_only_after_the_signature_verifies(
    emulator: RunningEmulator,
) -> None:
    bad = signed_for(USER, secret="WrongSecret", nonce="shared-nonce-1")
    assert await error(emulator, query_of(bad.url)) == (400, "SignatureDoesNotMatch")
    good = signed_for(USER, nonce="shared-nonce-1")
    assert (await send_signed(emulator, good))[0] == 200


async def test_nonces_are_forgotten_after_31_minutes(start_emulator: StartEmulator) -> None:
    now = [datetime.now(UTC)]
    emulator = await start_emulator(clock=lambda: now[0])
    first = signed_for(USER, timestamp=now[0], nonce="n-31")
    assert (await send_signed(emulator, first))[0] == 200
    now[0] += timedelta(minutes=31, seconds=1)
    again = signed_for(USER, timestamp=now[0], nonce="n-31")
    assert (await send_signed(emulator, again))[0] == 200


@pytest.mark.parametrize(
    ("delta", "code"),
    [
        (timedelta(minutes=-16), "InvalidTimeStamp.Expired"),
        (timedelta(minutes=16), "InvalidTimeStamp.Expired"),
    ],
)
async def test_timestamp_window(emulator: RunningEmulator, delta: timedelta, code: str) -> None:
    signed = signed_for(USER, timestamp=datetime.now(UTC) + delta)
    assert await error(emulator, query_of(signed.url)) == (400, code)


async def test_malformed_timestamp(emulator: RunningEmulator) -> None:
    params = signed_for(USER).params
    query = resigned(params, "POST", USER.access_key_secret, Timestamp="2025-01-15 08:30")
    assert await error(emulator, query) == (400, "InvalidTimeStamp.Format")


async def test_sts_key_without_token(emulator: RunningEmulator) -> None:
    signed = signed_for(ROLE, token=None)
    assert await error(emulator, query_of(signed.url)) == (400, "MissingSecurityToken")


async def test_sts_key_with_another_token(emulator: RunningEmulator) -> None:
    signed = signed_for(ROLE, token="CAIS+another")
    code = "InvalidSecurityToken.MismatchWithAccessKey"
    assert await error(emulator, query_of(signed.url)) == (400, code)


async def test_unknown_and_disabled_keys(emulator: RunningEmulator) -> None:
    unknown = msgspec.structs.replace(USER, access_key_id="LTAI5tNobody")
    assert await error(emulator, query_of(signed_for(unknown).url)) == (
        404,
        "InvalidAccessKeyId.NotFound",
    )
    disabled = query_of(signed_for(DISABLED).url)
    assert await error(emulator, disabled) == (400, "InvalidAccessKeyId.Inactive")


@pytest.mark.parametrize(
    ("missing", "code"),
    [
        ("Action", "MissingParameter"),
        ("Version", "MissingParameter"),
        ("AccessKeyId", "MissingAccessKeyId"),
        ("Timestamp", "MissingTimestamp"),
        ("SignatureNonce", "MissingSignatureNonce"),
        ("Signature", "MissingSignature"),
    ],
)
async def test_missing_parameters(emulator: RunningEmulator, missing: str, code: str) -> None:
    params = dict(signed_for(USER).params)
    del params[missing]
    assert await error(emulator, encode(params)) == (400, code)


async def test_signature_method_and_unknown_api(emulator: RunningEmulator) -> None:
    params = signed_for(USER).params
    secret = USER.access_key_secret
    query = resigned(params, "POST", secret, SignatureMethod="HMAC-SHA256")
    assert await error(emulator, query) == (400, "InvalidSignatureMethod")
    query = resigned(params, "POST", secret, Action="AssumeRole", SignatureNonce="api-1")
    assert await error(emulator, query) == (404, "InvalidApi.NotFound")
    response = await send(emulator, query_of(signed_for(USER).url), path="/other")
    assert (response.status_code, response.json()["Code"]) == (404, "InvalidApi.NotFound")
    response = await send(emulator, query_of(signed_for(USER).url), "PUT")
    assert (response.status_code, response.json()["Code"]) == (405, "UnsupportedHTTPMethod")


async def test_check_order(emulator: RunningEmulator) -> None:
    # Timestamp before key lookup before token before signature (alibaba-sts.md §1.4).
    old = datetime.now(UTC) - timedelta(hours=1)
    stale_and_wrong = signed_for(USER, secret="Wrong", timestamp=old)
    assert (await error(emulator, query_of(stale_and_wrong.url)))[1] == "InvalidTimeStamp.Expired"
    unknown = msgspec.structs.replace(USER, access_key_id="LTAI5tNobody")
    unknown_and_wrong = signed_for(unknown, secret="Wrong")
    assert (await error(emulator, query_of(unknown_and_wrong.url)))[1] == (
        "InvalidAccessKeyId.NotFound"
    )
    tokenless_and_wrong = signed_for(ROLE, secret="Wrong", token=None)
    assert (await error(emulator, query_of(tokenless_and_wrong.url)))[1] == "MissingSecurityToken"


# --- faults ---------------------------------------------------------------------------------


async def test_faults(emulator: RunningEmulator) -> None:
    query = query_of(signed_for(USER).url)
    emulator.state.fault = "http500"
    response = await send(emulator, query)
    assert (response.status_code, response.json()["Code"]) == (500, "InternalError")
    emulator.state.fault = "garbage"
    response = await send(emulator, query)
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()
    emulator.state.fault = "huge"
    response = await send(emulator, query)
    assert "content-length" not in response.headers
    assert len(response.content) == 16 * 1024 * 1024
    emulator.state.fault = "redirect"
    response = await send(emulator, query)
    assert (response.status_code, response.headers["location"]) == (302, "/redirected")
    emulator.state.fault = "slow:0.3"
    started = time.monotonic()
    response = await send(emulator, query)
    assert time.monotonic() - started >= 0.3
    assert response.status_code == 200  # after the delay it answers normally
    assert emulator.state.request_count == 5


@pytest.mark.parametrize("fault", ["boom", "slow:", "slow:x", "slow"])
def test_unknown_faults_are_refused(fault: str) -> None:
    state = build_emulator_app([USER]).state.emulator
    with pytest.raises(ValueError):
        state.fault = fault


# --- identities --------------------------------------------------------------------------------


def test_load_identities(tmp_path: Path) -> None:
    path = tmp_path / "ids.json"
    path.write_bytes(msgspec.json.encode([ROLE, USER]))
    assert load_identities(path) == [ROLE, USER]
    path.write_text(
        '[{"access_key_id": "LTAI1", "access_key_secret": "s", "arn": "acs:ram::1:root",'
        ' "account_id": "1", "identity_type": "Account", "principal_id": "1"}]'
    )
    assert load_identities(str(path))[0].user_id == ""


@pytest.mark.parametrize(
    "document",
    [
        # an STS. key without its token
        '[{"access_key_id": "STS.x", "access_key_secret": "s", "arn": "a", "account_id": "1",'
        ' "identity_type": "AssumedRoleUser", "principal_id": "p"}]',
        # an unknown identity type
        '[{"access_key_id": "k", "access_key_secret": "s", "arn": "a", "account_id": "1",'
        ' "identity_type": "Robot", "principal_id": "p"}]',
        # an unknown field (a typo would otherwise be silently ignored)
        '[{"access_key_id": "k", "access_key_secret": "s", "arn": "a", "account_id": "1",'
        ' "identity_type": "RAMUser", "principal_id": "p", "secret": "x"}]',
    ],
)
def test_load_identities_refuses_bad_files(tmp_path: Path, document: str) -> None:
    path = tmp_path / "ids.json"
    path.write_text(document)
    with pytest.raises(msgspec.ValidationError):
        load_identities(path)


def test_duplicate_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="duplicate access_key_id"):
        build_emulator_app([USER, USER])


async def test_demo_identities_log_in(start_emulator: StartEmulator) -> None:
    demo = demo_identities()
    kinds = {parse_caller(i.arn).type: i for i in demo}
    role = kinds[ArnType.ASSUMED_ROLE]
    assert parse_caller(role.arn).name == "demo"
    assert role.access_key_id.startswith("STS.") and role.security_token
    assert kinds[ArnType.USER].identity_type == "RAMUser"
    emulator = await start_emulator(demo)
    for identity in demo:
        status, body = await send_signed(emulator, signed_for(identity))
        assert (status, body["Arn"]) == (200, identity.arn)


def test_server_string_to_sign_is_over_all_but_the_signature() -> None:
    # The emulator's SignatureDoesNotMatch message embeds exactly this string.
    params = signed_for(USER).params
    assert "Signature%3D" not in string_to_sign("POST", params)
