"""StsClient against the emulator and against misbehaving servers, all real HTTP on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest

from core.framework.errors import (
    BadRequest,
    PermissionDenied,
    UpstreamError,
    UpstreamTimeout,
    WardgateError,
)
from plugins.alicloud import sts
from plugins.alicloud.signer import USER_AGENT, SignedRequest, percent_encode
from plugins.alicloud.sts import (
    MAX_BODY_BYTES,
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


_SESSION_ARGS = ("timeout", "connect_timeout", "proxy")


async def call(url: str, req: ValidatedRequest, **client_args: Any) -> CallerIdentity:
    """One replay through the production session, with every STS call sent to `url`."""
    session_args = {k: client_args.pop(k) for k in _SESSION_ARGS if k in client_args}
    async with make_http_client(**session_args) as http:
        client = StsClient(http, endpoint_override=url, **client_args)
        return await client.get_caller_identity(req)


def assert_nothing_secret(error: WardgateError, req: ValidatedRequest) -> None:
    """Nothing secret or upstream-verbose ever reaches the client or the log."""
    for forbidden in (
        req.params["Signature"],
        percent_encode(req.params["Signature"]),
        req.raw_query,
        "string to sign",
        "AccessKeyId%3D",
        req.access_key_id,
        "CAIS",
    ):
        assert forbidden not in error.message and forbidden not in error.log_detail


async def failure(url: str, req: ValidatedRequest, **kwargs: Any) -> WardgateError:
    with pytest.raises(WardgateError) as caught:
        await call(url, req, **kwargs)
    assert_nothing_secret(caught.value, req)
    return caught.value


# --- a raw loopback server, for answers no well-behaved server gives ---------------------------

Answer = bytes | Callable[[asyncio.StreamWriter], Awaitable[None]]


@dataclass
class RawServer:
    """Records each request head as received and answers it with raw bytes (or a coroutine
    that writes them). Connections are kept alive until the answer or the client closes them."""

    answers: list[Answer]
    url: str = ""
    heads: list[bytes] = field(default_factory=list)
    connections: int = 0

    def request_line(self, index: int = 0) -> bytes:
        return self.heads[index].split(b"\r\n", 1)[0]

    def headers(self, index: int = 0) -> list[tuple[str, str]]:
        lines = self.heads[index].decode("latin-1").split("\r\n")[1:]
        pairs = [line.split(":", 1) for line in lines if line]
        return [(name, value.strip()) for name, value in pairs]


StartRaw = Callable[..., Awaitable[RawServer]]


@pytest.fixture
async def raw_server() -> AsyncIterator[StartRaw]:
    """`await raw_server(answer, ...)`: a server on a free loopback port; the n-th request gets
    the n-th answer (the last one repeats)."""
    tasks: set[asyncio.Task[Any]] = set()
    servers: list[asyncio.Server] = []

    async def start(*answers: Answer) -> RawServer:
        raw = RawServer(list(answers))

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            tasks.add(task)
            raw.connections += 1
            with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
                try:
                    while not writer.is_closing():
                        raw.heads.append(await reader.readuntil(b"\r\n\r\n"))
                        answer = raw.answers[min(len(raw.heads), len(raw.answers)) - 1]
                        if isinstance(answer, bytes):
                            writer.write(answer)
                            await writer.drain()
                        else:
                            await answer(writer)
                finally:
                    writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        servers.append(server)
        raw.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        return raw

    yield start
    for server in servers:
        server.close()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for server in servers:
        await server.wait_closed()


def http_response(
    status: int, body: bytes = b"", headers: dict[str, str] | None = None, reason: str = "X"
) -> bytes:
    fields = {"Content-Length": str(len(body)), **(headers or {})}
    head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items())
    return head.encode() + b"\r\n" + body


IDENTITY_BODY = b'{"Arn": "acs:ram::1:user/a", "AccountId": "1"}'


async def hang_up(writer: asyncio.StreamWriter) -> None:
    writer.close()


# --- success ---------------------------------------------------------------------------------


@pytest.mark.parametrize("identity", [ROLE, USER, ROOT], ids=["role", "user", "root"])
async def test_success(emulator: RunningEmulator, identity: Any) -> None:
    caller = await call(emulator.url, validated(signed_for(identity)))
    assert caller.Arn == identity.arn
    assert caller.AccountId == identity.account_id
    assert caller.IdentityType == identity.identity_type
    assert caller.PrincipalId == identity.principal_id
    assert (caller.UserId, caller.RoleId) == (identity.user_id, identity.role_id)
    assert len(caller.RequestId) == 36


async def test_get_signed_second_form_is_sent_as_get(emulator: RunningEmulator) -> None:
    caller = await call(emulator.url, validated(signed_for(USER, method="GET")))
    assert caller.Arn == USER.arn


async def test_connections_are_kept_alive(raw_server: StartRaw) -> None:
    server = await raw_server(http_response(200, IDENTITY_BODY))
    async with make_http_client() as http:
        client = StsClient(http, endpoint_override=server.url)
        for _ in range(3):
            await client.get_caller_identity(validated(signed_for(USER)))
    assert (len(server.heads), server.connections) == (3, 1)


# --- STS refusals mapped to client errors ------------------------------------------------


async def test_wrong_secret_is_403_naming_only_the_code(emulator: RunningEmulator) -> None:
    error = await failure(emulator.url, validated(signed_for(USER, secret="WrongSecret")))
    assert isinstance(error, PermissionDenied)
    assert error.status == 403
    assert error.message == "STS rejected the request: SignatureDoesNotMatch"
    assert "status 400" in error.log_detail
    assert "Code=SignatureDoesNotMatch" in error.log_detail
    assert "RequestId=" in error.log_detail
    assert "Specified signature" not in error.log_detail  # STS's Message is never kept


async def test_get_signed_replayed_as_post(emulator: RunningEmulator) -> None:
    error = await failure(emulator.url, validated(signed_for(USER, method="GET"), method="POST"))
    assert (error.status, error.message) == (403, "STS rejected the request: SignatureDoesNotMatch")


async def test_replayed_nonce(emulator: RunningEmulator) -> None:
    req = validated(signed_for(ROLE))
    await call(emulator.url, req)
    error = await failure(emulator.url, req)
    assert isinstance(error, BadRequest)
    assert (error.status, error.message) == (400, "STS rejected the request: SignatureNonceUsed")


async def test_sts_key_without_token(emulator: RunningEmulator) -> None:
    error = await failure(emulator.url, validated(signed_for(ROLE, token=None)))
    assert (error.status, error.message) == (400, "STS rejected the request: MissingSecurityToken")


async def test_unknown_key_is_403(emulator: RunningEmulator) -> None:
    stranger = msgspec.structs.replace(USER, access_key_id="LTAI5tNobody")
    error = await failure(emulator.url, validated(signed_for(stranger)))
    assert (error.status, error.message) == (
        403,
        "STS rejected the request: InvalidAccessKeyId.NotFound",
    )


async def test_old_timestamp_is_refused_before_anything_is_sent(
    emulator: RunningEmulator,
) -> None:
    signed = signed_for(USER, timestamp=datetime.now(UTC) - timedelta(minutes=20))
    with pytest.raises(BadRequest, match="more than 900 seconds old"):
        await call(emulator.url, validated(signed))
    assert emulator.state.request_count == 0


# --- STS misbehaving ------------------------------------------------------------------------


async def test_http_500_is_502(emulator: RunningEmulator) -> None:
    emulator.state.fault = "http500"
    error = await failure(emulator.url, validated(signed_for(USER)))
    assert isinstance(error, UpstreamError)
    assert (error.status, error.message) == (502, "STS failed with HTTP 500")
    assert "Code=InternalError" in error.log_detail


async def test_garbage_is_502(emulator: RunningEmulator) -> None:
    emulator.state.fault = "garbage"
    error = await failure(emulator.url, validated(signed_for(USER)))
    assert (error.status, error.message) == (502, "STS returned a response wardgate cannot read")


def response_recorder() -> tuple[aiohttp.TraceConfig, list[aiohttp.ClientResponse]]:
    responses: list[aiohttp.ClientResponse] = []

    async def on_end(session: Any, context: Any, params: aiohttp.TraceRequestEndParams) -> None:
        responses.append(params.response)

    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(on_end)
    return trace, responses


async def test_huge_body_is_502_and_not_read_past_the_cap(emulator: RunningEmulator) -> None:
    emulator.state.fault = "huge"  # 16 MiB, chunked, no Content-Length
    trace, responses = response_recorder()
    async with aiohttp.ClientSession(trace_configs=[trace]) as http:
        client = StsClient(http, endpoint_override=emulator.url)
        with pytest.raises(UpstreamError) as caught:
            await client.get_caller_identity(validated(signed_for(USER)))
    assert (caught.value.status, caught.value.message) == (502, "STS response was too large")
    # The bytes the client pulled off the socket: the 64 KiB cap, plus what aiohttp's reader
    # buffers before it pauses the socket (2 x 64 KiB) and one socket read (256 KiB at most).
    (response,) = responses
    assert MAX_BODY_BYTES < response.content.total_bytes <= 8 * MAX_BODY_BYTES
    assert response.closed


async def test_declared_oversize_body_is_refused_unread(raw_server: StartRaw) -> None:
    # The server declares 10 MB and sends none of it: a client that waited for the body
    # would hit the deadline (504) instead of refusing on the header.
    server = await raw_server(b"HTTP/1.1 200 OK\r\nContent-Length: 10000000\r\n\r\n")
    error = await failure(server.url, validated(signed_for(USER)), deadline_seconds=2)
    assert (error.status, error.message) == (502, "STS response was too large")
    assert "declared Content-Length 10000000" in error.log_detail


async def test_a_connection_left_mid_body_is_not_reused(raw_server: StartRaw) -> None:
    server = await raw_server(
        b"HTTP/1.1 200 OK\r\nContent-Length: 10000000\r\n\r\n{",
        http_response(200, IDENTITY_BODY),
    )
    async with make_http_client() as http:
        client = StsClient(http, endpoint_override=server.url)
        with pytest.raises(UpstreamError, match="too large"):
            await client.get_caller_identity(validated(signed_for(USER)))
        caller = await client.get_caller_identity(validated(signed_for(USER)))
    assert caller.Arn == "acs:ram::1:user/a"
    assert (len(server.heads), server.connections) == (2, 2)


async def test_no_cookie_is_carried_from_one_login_to_the_next(raw_server: StartRaw) -> None:
    # Through a proxy, so the cookie comes from a host name (cookie jars ignore bare IPs).
    server = await raw_server(
        http_response(200, IDENTITY_BODY, {"Set-Cookie": "session=from-sts; Path=/"})
    )
    async with make_http_client(proxy=server.url) as http:
        client = StsClient(http, endpoint_override="http://sts.example.invalid:9100")
        for _ in range(2):
            await client.get_caller_identity(validated(signed_for(USER)))
    assert len(server.heads) == 2
    assert all(name.lower() != "cookie" for name, _ in server.headers(1))


async def test_compressed_body_is_never_decompressed(raw_server: StartRaw) -> None:
    # Valid JSON once gunzipped: only a client that decompressed could read it.
    body = gzip.compress(IDENTITY_BODY)
    server = await raw_server(http_response(200, body, {"Content-Encoding": "gzip"}))
    error = await failure(server.url, validated(signed_for(USER)))
    assert (error.status, error.message) == (502, "STS returned a response wardgate cannot read")
    assert ("Accept-Encoding", "identity") in server.headers()


async def test_redirect_is_502_and_not_followed(emulator: RunningEmulator) -> None:
    emulator.state.fault = "redirect"
    error = await failure(emulator.url, validated(signed_for(USER)))
    assert (error.status, error.message) == (
        502,
        "STS answered with a redirect, which wardgate does not follow",
    )
    assert emulator.state.request_count == 1


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_redirect_body_is_not_read(raw_server: StartRaw, status: int) -> None:
    # A redirect to this same server, declaring a body it never sends: reading it would time out.
    redirect = f"HTTP/1.1 {status} Moved\r\nLocation: /again\r\nContent-Length: 100\r\n\r\n"
    server = await raw_server(redirect.encode())
    error = await failure(server.url, validated(signed_for(USER)), deadline_seconds=2)
    assert (error.status, error.message) == (
        502,
        "STS answered with a redirect, which wardgate does not follow",
    )
    assert len(server.heads) == 1


async def test_slow_sts_is_504(emulator: RunningEmulator) -> None:
    emulator.state.fault = "slow:2"
    error = await failure(emulator.url, validated(signed_for(USER)), timeout=0.2)
    assert isinstance(error, UpstreamTimeout)
    assert (error.status, error.message) == (504, "timed out waiting for STS")


async def test_overall_deadline_bounds_a_slow_exchange(emulator: RunningEmulator) -> None:
    emulator.state.fault = "slow:2"
    error = await failure(emulator.url, validated(signed_for(USER)), deadline_seconds=0.2)
    assert (error.status, error.message) == (504, "timed out waiting for STS")


async def trickle(writer: asyncio.StreamWriter) -> None:
    """A byte of body every 50 ms: no single read ever waits long."""
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
    for _ in range(1000):
        writer.write(b" ")
        await writer.drain()
        await asyncio.sleep(0.05)


@pytest.mark.parametrize(
    "limit", [{"deadline_seconds": 0.5}, {"timeout": 0.5}], ids=["deadline", "session-timeout"]
)
async def test_a_trickling_body_is_cut_off(raw_server: StartRaw, limit: dict[str, float]) -> None:
    server = await raw_server(trickle)
    started = asyncio.get_running_loop().time()
    error = await failure(server.url, validated(signed_for(USER)), **limit)
    assert (error.status, error.message) == (504, "timed out waiting for STS")
    assert asyncio.get_running_loop().time() - started < 3


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 abc Nope\r\n\r\n",
        b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-Huge: " + b"a" * 70000 + b"\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 12, 13\r\n\r\n",
        hang_up,
    ],
    ids=["bad-status", "not-http", "huge-header", "bad-length", "hang-up"],
)
async def test_broken_responses_are_502(raw_server: StartRaw, answer: Answer) -> None:
    server = await raw_server(answer)
    error = await failure(server.url, validated(signed_for(USER)))
    assert isinstance(error, UpstreamError)
    assert (error.status, error.message) == (502, "could not reach STS")
    assert error.log_detail.startswith(("ClientResponseError", "ServerDisconnectedError"))


async def test_truncated_body_is_502(raw_server: StartRaw) -> None:
    async def half(writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{")
        await writer.drain()
        writer.close()

    server = await raw_server(half)
    error = await failure(server.url, validated(signed_for(USER)))
    assert (error.status, error.message) == (502, "could not reach STS")
    assert error.log_detail.startswith("ClientPayloadError")


async def test_unreachable_sts_is_502() -> None:
    with socket.socket() as sock:  # bound, never listening: the connection is refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        error = await failure(
            f"http://127.0.0.1:{port}", validated(signed_for(USER)), connect_timeout=2
        )
    assert (error.status, error.message) == (502, "could not reach STS")
    assert "ClientConnectorError" in error.log_detail


def test_error_details_never_carry_the_signed_query() -> None:
    req = validated(signed_for(ROLE))
    # aiohttp's ClientResponseError and InvalidURL quote the whole URL.
    text = f"400, message='Bad status line', url='http://127.0.0.1:1/?{req.raw_query}'"
    assert (
        sts._scrub(text, req) == "400, message='Bad status line', url='http://127.0.0.1:1/?<query>'"
    )
    # Any other way a secret could be in it (here: the query re-encoded) withholds it all.
    reencoded = req.raw_query.replace("%2B", "%2b")
    assert reencoded != req.raw_query
    assert sts._scrub(f"url={reencoded}", req) == "<detail withheld>"
    assert sts._scrub(req.params["Signature"], req) == "<detail withheld>"
    assert sts._scrub("x" * 500, req) == "x" * 200


# --- response interpretation ---------------------------------------------------------------


async def answered(raw_server: StartRaw, response: bytes) -> CallerIdentity:
    server = await raw_server(response)
    return await call(server.url, validated(signed_for(USER)))


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
async def test_response_mapping(
    raw_server: StartRaw, status: int, body: bytes, expected: tuple[int, str]
) -> None:
    with pytest.raises(WardgateError) as caught:
        await answered(raw_server, http_response(status, body))
    assert (caught.value.status, caught.value.message) == expected


async def test_success_ignores_unknown_fields_and_defaults_missing_ones(
    raw_server: StartRaw,
) -> None:
    body = b'{"Arn": "acs:ram::1:user/a", "AccountId": "1", "Extra": {"x": 1}}'
    caller = await answered(raw_server, http_response(200, body))
    assert caller == CallerIdentity(Arn="acs:ram::1:user/a", AccountId="1")


# --- the request that goes out -------------------------------------------------------------


def untidy_request() -> ValidatedRequest:
    """A signed POST whose query a re-quoting client would change: lower-case escapes and a raw
    `:` (the signature covers the decoded values, so STS accepts it as sent), plus headers the
    client must not steer the request with."""
    signed = signed_for(ROLE)
    path, _, query = signed.url.partition("?")
    query = query.replace("%3A", ":").replace("%2B", "%2b").replace("%3D", "%3d")
    assert ":" in query and "%2b" in query
    headers = [*signed.headers.items(), ("Host", "evil.com"), ("Accept-Encoding", "gzip")]
    return validate_signed_request(
        f"{path}?{query}", "POST", headers, now=datetime.now(UTC), max_skew_seconds=900
    )


async def test_the_request_sent_is_the_validated_one(raw_server: StartRaw) -> None:
    server = await raw_server(http_response(200, IDENTITY_BODY))
    req = untidy_request()
    await call(server.url + "/", req)
    # Method, path and query on the wire byte-for-byte.
    assert server.request_line() == f"POST /?{req.raw_query} HTTP/1.1".encode()
    headers = server.headers()
    names = sorted(name.lower() for name, _ in headers)
    assert names == sorted(
        [
            "host",
            "user-agent",
            "accept",
            "accept-encoding",
            "content-length",
            "content-type",
            "x-acs-action",
            "x-acs-credentials-provider",
            "x-acs-version",
        ]
    )
    values = {name.lower(): value for name, value in headers}
    assert values["host"] == server.url.removeprefix("http://")
    assert values["accept-encoding"] == "identity"
    assert values["accept"] == "*/*"
    assert values["content-length"] == "0"
    assert values["x-acs-action"] == "GetCallerIdentity"
    assert values["user-agent"] == USER_AGENT


async def test_the_real_sts_host_is_called_over_https() -> None:
    """Without an override the URL is https://<validated host>/?<raw query>. Recorded as aiohttp
    starts the request; a resolver that knows no host keeps it off the network."""
    started: list[aiohttp.TraceRequestStartParams] = []

    async def on_start(session: Any, context: Any, params: aiohttp.TraceRequestStartParams) -> None:
        started.append(params)

    class NoDns(aiohttp.abc.AbstractResolver):
        async def resolve(self, host: str, port: int = 0, family: Any = 0) -> Any:
            raise OSError("no DNS in tests")

        async def close(self) -> None:
            pass

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    req = untidy_request()
    connector = aiohttp.TCPConnector(resolver=NoDns())
    async with aiohttp.ClientSession(connector=connector, trace_configs=[trace]) as http:
        with pytest.raises(UpstreamError, match="could not reach STS") as caught:
            await StsClient(http).get_caller_identity(req)
    assert_nothing_secret(caught.value, req)
    (params,) = started
    assert params.method == "POST"
    assert (params.url.scheme, params.url.raw_host, params.url.port) == (
        "https",
        "sts.cn-hangzhou.aliyuncs.com",
        443,
    )
    assert params.url.raw_path_qs == f"/?{req.raw_query}"
    assert "Host" not in params.headers  # aiohttp derives it from the URL
    assert params.headers["Accept-Encoding"] == "identity"


async def test_a_configured_proxy_gets_the_request(raw_server: StartRaw) -> None:
    proxy = await raw_server(http_response(200, IDENTITY_BODY))
    req = untidy_request()
    caller = await call("http://sts.example.invalid:9100", req, proxy=proxy.url)
    assert caller.Arn == "acs:ram::1:user/a"
    line = f"POST http://sts.example.invalid:9100/?{req.raw_query} HTTP/1.1"
    assert proxy.request_line() == line.encode()


async def test_environment_proxies_are_ignored(
    raw_server: StartRaw, emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    trap = await raw_server(http_response(502))
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(name, trap.url)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    caller = await call(emulator.url, validated(signed_for(USER)))
    assert caller.Arn == USER.arn
    assert trap.heads == []


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
async def test_endpoint_override_must_be_scheme_host_port(endpoint: str) -> None:
    async with make_http_client() as http:
        with pytest.raises(ValueError, match="endpoint override"):
            StsClient(http, endpoint_override=endpoint)


async def test_make_http_client_is_locked_down() -> None:
    async with make_http_client(connect_timeout=3, timeout=7) as http:
        assert http.trust_env is False
        assert http.timeout == aiohttp.ClientTimeout(total=7, sock_connect=3)
        assert http.auto_decompress is False
        assert isinstance(http.cookie_jar, aiohttp.DummyCookieJar)
        assert http.headers["User-Agent"] == USER_AGENT
        assert isinstance(http.connector, aiohttp.TCPConnector)
        assert http.connector.limit == 100
        assert http.connector._ssl is sts._tls_context()  # no public accessor


def test_tls_context_verifies_with_certifi_roots_not_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty.pem"
    empty.write_text("")
    monkeypatch.setenv("SSL_CERT_FILE", str(empty))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    sts._tls_context.cache_clear()
    try:
        context = sts._tls_context()
        assert context.verify_mode == ssl.CERT_REQUIRED
        assert context.check_hostname is True
        # Built from the environment, it would hold no root at all.
        assert len(context.get_ca_certs()) > 50
    finally:
        sts._tls_context.cache_clear()
