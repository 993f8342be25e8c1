"""StsClient against the emulator (real HTTP) and against misbehaving servers."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec
import pytest

from core.framework.errors import (
    BadRequest,
    PermissionDenied,
    UpstreamError,
    UpstreamTimeout,
    WardgateError,
)
from plugins.alicloud.signer import SignedRequest, percent_encode
from plugins.alicloud.sts import (
    CallerIdentity,
    StsClient,
    ValidatedRequest,
    make_http_client,
    validate_signed_request,
)

from .conftest import ROLE, ROOT, USER, RunningEmulator
from .test_emulator import signed_for


def validated(
    signed: SignedRequest, method: str = "", now: datetime | None = None
) -> ValidatedRequest:
    return validate_signed_request(
        signed.url,
        method or signed.method,
        signed.headers,
        now=now or datetime.now(UTC),
        max_skew_seconds=900,
    )


async def call(
    emulator: RunningEmulator, req: ValidatedRequest, **client_args: Any
) -> CallerIdentity:
    timeouts = {k: client_args.pop(k) for k in ("timeout", "connect_timeout") if k in client_args}
    async with make_http_client(**timeouts) as http:
        client = StsClient(http, endpoint_override=emulator.url, **client_args)
        return await client.get_caller_identity(req)


async def failure(emulator: RunningEmulator, req: ValidatedRequest, **kwargs: Any) -> WardgateError:
    with pytest.raises(WardgateError) as caught:
        await call(emulator, req, **kwargs)
    error = caught.value
    # Nothing secret or upstream-verbose ever reaches the client or the log.
    for forbidden in (
        req.params["Signature"],
        percent_encode(req.params["Signature"]),
        req.raw_query,
    ):
        assert forbidden not in error.message and forbidden not in error.log_detail
    for forbidden in ("string to sign", "AccessKeyId%3D", req.access_key_id, "CAIS"):
        assert forbidden not in error.message and forbidden not in error.log_detail
    return error


# --- success ---------------------------------------------------------------------------------


@pytest.mark.parametrize("identity", [ROLE, USER, ROOT], ids=["role", "user", "root"])
async def test_success(emulator: RunningEmulator, identity: Any) -> None:
    caller = await call(emulator, validated(signed_for(identity)))
    assert caller.Arn == identity.arn
    assert caller.AccountId == identity.account_id
    assert caller.IdentityType == identity.identity_type
    assert caller.PrincipalId == identity.principal_id
    assert (caller.UserId, caller.RoleId) == (identity.user_id, identity.role_id)
    assert len(caller.RequestId) == 36


async def test_get_signed_second_form_is_sent_as_get(emulator: RunningEmulator) -> None:
    caller = await call(emulator, validated(signed_for(USER, method="GET")))
    assert caller.Arn == USER.arn


# --- STS refusals mapped to client errors ------------------------------------------------


async def test_wrong_secret_is_403_naming_only_the_code(emulator: RunningEmulator) -> None:
    error = await failure(emulator, validated(signed_for(USER, secret="WrongSecret")))
    assert isinstance(error, PermissionDenied)
    assert error.status == 403
    assert error.message == "STS rejected the request: SignatureDoesNotMatch"
    assert "status 400" in error.log_detail
    assert "Code=SignatureDoesNotMatch" in error.log_detail
    assert "RequestId=" in error.log_detail
    assert "Specified signature" not in error.log_detail  # STS's Message is never kept


async def test_get_signed_replayed_as_post(emulator: RunningEmulator) -> None:
    error = await failure(emulator, validated(signed_for(USER, method="GET"), method="POST"))
    assert (error.status, error.message) == (403, "STS rejected the request: SignatureDoesNotMatch")


async def test_replayed_nonce(emulator: RunningEmulator) -> None:
    req = validated(signed_for(ROLE))
    await call(emulator, req)
    error = await failure(emulator, req)
    assert isinstance(error, BadRequest)
    assert (error.status, error.message) == (400, "STS rejected the request: SignatureNonceUsed")


async def test_sts_key_without_token(emulator: RunningEmulator) -> None:
    error = await failure(emulator, validated(signed_for(ROLE, token=None)))
    assert (error.status, error.message) == (400, "STS rejected the request: MissingSecurityToken")


async def test_unknown_key_is_403(emulator: RunningEmulator) -> None:
    stranger = msgspec.structs.replace(USER, access_key_id="LTAI5tNobody")
    error = await failure(emulator, validated(signed_for(stranger)))
    assert (error.status, error.message) == (
        403,
        "STS rejected the request: InvalidAccessKeyId.NotFound",
    )


async def test_old_timestamp_is_refused_before_anything_is_sent(
    emulator: RunningEmulator,
) -> None:
    signed = signed_for(USER, timestamp=datetime.now(UTC) - timedelta(minutes=20))
    with pytest.raises(BadRequest, match="more than 900 seconds old"):
        await call(emulator, validated(signed))
    assert emulator.state.request_count == 0


# --- STS misbehaving ------------------------------------------------------------------------


async def test_http_500_is_502(emulator: RunningEmulator) -> None:
    emulator.state.fault = "http500"
    error = await failure(emulator, validated(signed_for(USER)))
    assert isinstance(error, UpstreamError)
    assert (error.status, error.message) == (502, "STS failed with HTTP 500")
    assert "Code=InternalError" in error.log_detail


async def test_garbage_is_502(emulator: RunningEmulator) -> None:
    emulator.state.fault = "garbage"
    error = await failure(emulator, validated(signed_for(USER)))
    assert (error.status, error.message) == (502, "STS returned a response wardgate cannot read")


class CountingTransport(httpx.AsyncBaseTransport):
    """A real transport that counts the response bytes the client actually pulled."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.bytes_read = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        assert isinstance(response.stream, httpx.AsyncByteStream)
        stream = response.stream
        counter = self

        class Counted(httpx.AsyncByteStream):
            async def __aiter__(self) -> AsyncIterator[bytes]:
                async for chunk in stream:
                    counter.bytes_read += len(chunk)
                    yield chunk

            async def aclose(self) -> None:
                await stream.aclose()

        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=Counted(),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_huge_body_is_502_and_not_read_past_the_cap(emulator: RunningEmulator) -> None:
    emulator.state.fault = "huge"
    transport = CountingTransport()
    async with httpx.AsyncClient(transport=transport) as http:
        client = StsClient(http, endpoint_override=emulator.url)
        with pytest.raises(UpstreamError) as caught:
            await client.get_caller_identity(validated(signed_for(USER)))
    assert (caught.value.status, caught.value.message) == (502, "STS response was too large")
    # The emulator offered 16 MiB; the client stopped within one read of the 64 KiB cap.
    assert 64 * 1024 < transport.bytes_read <= 2 * 64 * 1024 + 65536


async def test_declared_oversize_body_is_refused_unread() -> None:
    read = []

    async def body() -> AsyncIterator[bytes]:
        read.append(True)
        yield b"{}"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Length": str(10**7)}, content=body())

    error = await _mock_failure(handler)
    assert (error.status, error.message) == (502, "STS response was too large")
    assert not read


async def test_redirect_is_502_and_not_followed(emulator: RunningEmulator) -> None:
    emulator.state.fault = "redirect"
    error = await failure(emulator, validated(signed_for(USER)))
    assert (error.status, error.message) == (
        502,
        "STS answered with a redirect, which wardgate does not follow",
    )
    assert emulator.state.request_count == 1


async def test_slow_sts_is_504(emulator: RunningEmulator) -> None:
    emulator.state.fault = "slow:2"
    error = await failure(emulator, validated(signed_for(USER)), timeout=0.2)
    assert isinstance(error, UpstreamTimeout)
    assert (error.status, error.message) == (504, "timed out waiting for STS")


async def test_overall_deadline_bounds_a_slow_exchange(emulator: RunningEmulator) -> None:
    emulator.state.fault = "slow:2"
    error = await failure(emulator, validated(signed_for(USER)), deadline_seconds=0.2)
    assert (error.status, error.message) == (504, "timed out waiting for STS")


async def test_unreachable_sts_is_502() -> None:
    with socket.socket() as sock:  # bound, never listening: the connection is refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        async with make_http_client(connect_timeout=2) as http:
            client = StsClient(http, endpoint_override=f"http://127.0.0.1:{port}")
            with pytest.raises(UpstreamError) as caught:
                await client.get_caller_identity(validated(signed_for(USER)))
    assert (caught.value.status, caught.value.message) == (502, "could not reach STS")
    assert "ConnectError" in caught.value.log_detail


# --- response interpretation, with a mock transport ----------------------------------------


def streamed(status: int, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    """A response whose body streams, as from a real connection (bytes would be pre-read)."""

    async def chunks() -> AsyncIterator[bytes]:
        yield body

    return httpx.Response(status, headers=headers, content=chunks())


async def _mock_call(handler: Any) -> CallerIdentity:
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        return await StsClient(http).get_caller_identity(validated(signed_for(USER)))


async def _mock_failure(handler: Any) -> WardgateError:
    with pytest.raises(WardgateError) as caught:
        await _mock_call(handler)
    return caught.value


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, b'{"RequestId": "r"}', (502, "STS returned no caller Arn")),
        (200, b'{"Arn": 5}', (502, "STS returned a response wardgate cannot read")),
        (200, b"[1, 2]", (502, "STS returned a response wardgate cannot read")),
        (201, b'{"Arn": "acs:ram::1:root"}', (502, "STS failed with HTTP 201")),
        (400, b"not json", (502, "STS failed with HTTP 400")),
        (400, b'{"Message": "no code"}', (502, "STS failed with HTTP 400")),
        (400, b'{"Code": "Bad Code\\n<script>"}', (502, "STS failed with HTTP 400")),
        (
            400,
            b'{"Code": "InvalidTimeStamp.Expired"}',
            (400, "STS rejected the request: InvalidTimeStamp.Expired"),
        ),
        (400, b'{"Code": "Throttling.User"}', (400, "STS rejected the request: Throttling.User")),
        (
            404,
            b'{"Code": "InvalidApi.NotFound"}',
            (400, "STS rejected the request: InvalidApi.NotFound"),
        ),
        (
            400,
            b'{"Code": "InvalidSecurityToken.Expired"}',
            (403, "STS rejected the request: InvalidSecurityToken.Expired"),
        ),
        (
            400,
            b'{"Code": "InvalidAccessKeyId.Inactive"}',
            (403, "STS rejected the request: InvalidAccessKeyId.Inactive"),
        ),
        (
            403,
            b'{"Code": "Forbidden.AccessKeyDisabled"}',
            (403, "STS rejected the request: Forbidden.AccessKeyDisabled"),
        ),
        (503, b'{"Code": "ServiceUnavailable"}', (502, "STS failed with HTTP 503")),
    ],
)
async def test_response_mapping(status: int, body: bytes, expected: tuple[int, str]) -> None:
    error = await _mock_failure(lambda request: streamed(status, body))
    assert (error.status, error.message) == expected


async def test_success_ignores_unknown_fields_and_defaults_missing_ones() -> None:
    body = b'{"Arn": "acs:ram::1:user/a", "AccountId": "1", "Extra": {"x": 1}}'
    caller = await _mock_call(lambda request: streamed(200, body))
    assert caller == CallerIdentity(Arn="acs:ram::1:user/a", AccountId="1")


async def test_the_request_sent_is_the_validated_one() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return streamed(200, b'{"Arn": "acs:ram::1:user/a"}')

    signed = signed_for(ROLE)
    headers = [*signed.headers.items(), ("Host", "evil.com"), ("Accept-Encoding", "gzip")]
    req = validate_signed_request(
        signed.url, "POST", headers, now=datetime.now(UTC), max_skew_seconds=900
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        await StsClient(http).get_caller_identity(req)
        await StsClient(http, endpoint_override="http://127.0.0.1:9100/").get_caller_identity(req)
    direct, overridden = seen
    assert str(direct.url).startswith("https://sts.cn-hangzhou.aliyuncs.com/?")
    assert direct.url.raw_path == b"/?" + req.raw_query.encode()  # byte-for-byte
    assert direct.headers["Host"] == "sts.cn-hangzhou.aliyuncs.com"
    assert direct.headers["Accept-Encoding"] == "identity"
    assert direct.headers["x-acs-action"] == "GetCallerIdentity"
    assert direct.method == "POST"
    assert direct.content == b""
    assert str(overridden.url).startswith("http://127.0.0.1:9100/?")
    assert overridden.url.raw_path == direct.url.raw_path


@pytest.mark.parametrize(
    "endpoint",
    [
        "ftp://127.0.0.1",
        "http://127.0.0.1/path",
        "http://127.0.0.1/?q=1",
        "http://u@h",
        "127.0.0.1:9",
    ],
)
def test_endpoint_override_must_be_scheme_host_port(endpoint: str) -> None:
    with pytest.raises(ValueError, match="endpoint override"):
        StsClient(httpx.AsyncClient(), endpoint_override=endpoint)


async def test_make_http_client_is_locked_down() -> None:
    async with make_http_client(connect_timeout=3, timeout=7) as http:
        assert http.follow_redirects is False
        assert http.trust_env is False
        assert http.timeout == httpx.Timeout(7, connect=3)
        assert http.headers["User-Agent"].startswith("wardgate/")
