"""Replaying a validated GetCallerIdentity request to STS, and reading its answer safely.

The request was checked by `validate_signed_request` (in `sts_validate.py`, re-exported here
with `NonceLedger` from `nonce.py`, so `sts` is the one import the login path needs). The answer
is untrusted too: the body is capped, redirects are not followed, and only STS's error Code
reaches the client, never its Message (it embeds the string-to-sign with the AccessKeyId).

The replay uses aiohttp (a C HTTP parser; measured 3-4x less CPU per call than httpx, and
logins are CPU-bound). Clients of wardgate (the CLI, the login helper) use httpx.
"""

from __future__ import annotations

import asyncio
import functools
import re
import ssl
from urllib.parse import urlsplit

import aiohttp
import certifi
import msgspec
from yarl import URL

from core.framework.errors import (
    BadRequest,
    PermissionDenied,
    UpstreamError,
    UpstreamTimeout,
)
from plugins.alicloud.nonce import NonceLedger
from plugins.alicloud.signer import USER_AGENT, percent_encode
from plugins.alicloud.sts_validate import ValidatedRequest, validate_signed_request

__all__ = [
    "CallerIdentity",
    "NonceLedger",
    "StsClient",
    "StsDenied",
    "StsInvalid",
    "ValidatedRequest",
    "make_http_client",
    "validate_signed_request",
]

MAX_BODY_BYTES = 64 * 1024

_STS_CODE_RE = re.compile(r"^[A-Za-z0-9._-]{1,100}$")

# STS codes meaning "these credentials do not prove an identity": 403. Every other STS 4xx
# with a Code is a defect of the request (stale timestamp, reused nonce, missing token,
# throttling): 400, so the client knows to fix or retry it.
_DENIED_CODES = ("InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidSecurityToken", "Forbidden")


class StsDenied(PermissionDenied):
    """STS refused the credentials or signature; `code` is STS's error Code."""

    def __init__(self, message: str, *, code: str, log_detail: str = "") -> None:
        super().__init__(message, log_detail=log_detail)
        self.code = code


class StsInvalid(BadRequest):
    """STS refused the request for another reason (stale, reused, throttled...); `code` is
    STS's error Code."""

    def __init__(self, message: str, *, code: str, log_detail: str = "") -> None:
        super().__init__(message, log_detail=log_detail)
        self.code = code


class CallerIdentity(msgspec.Struct, frozen=True):
    """STS's GetCallerIdentity answer; fields STS leaves out are ""."""

    RequestId: str = ""
    AccountId: str = ""
    Arn: str = ""
    IdentityType: str = ""
    PrincipalId: str = ""
    UserId: str = ""
    RoleId: str = ""


class _StsError(msgspec.Struct):
    # Message is deliberately not decoded: it embeds the string-to-sign.
    Code: str = ""
    RequestId: str = ""


def make_http_client(
    connect_timeout: float = 5, timeout: float = 10, proxy: str | None = None
) -> aiohttp.ClientSession:
    """The outbound connection pool for STS; create it inside the running event loop (as a
    plugin factory is called) and close it with `await session.close()`.

    No environment proxies, netrc or CA files; TLS verified; no cookies kept from one login to
    the next; bodies never decompressed. Redirects are refused per request (`StsClient`).
    """
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=100, ssl=_tls_context()),
        # `total` bounds the whole exchange, body included; `sock_connect` the TCP connect
        # and TLS handshake.
        timeout=aiohttp.ClientTimeout(total=timeout, sock_connect=connect_timeout),
        # Never let HTTPS_PROXY/NO_PROXY/.netrc of the server's environment redirect or weaken
        # the call that proves an identity; a proxy must be configured explicitly.
        trust_env=False,
        proxy=proxy,
        headers={"User-Agent": USER_AGENT},
        # A cookie STS (or anything on the way) sets for one caller must not ride along on the
        # next caller's replay.
        cookie_jar=aiohttp.DummyCookieJar(),
        # The body cap counts the bytes on the wire; a compressed body could expand far past it.
        auto_decompress=False,
    )


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # certifi's roots, as httpx used before: aiohttp's default context would also read
    # SSL_CERT_FILE/SSL_CERT_DIR from the environment. Built once per process (it reads a file).
    context = ssl.create_default_context(cafile=certifi.where())
    context.set_alpn_protocols(["http/1.1"])
    return context


class StsClient:
    """Replays a validated request to STS and decodes the caller identity."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        *,
        endpoint_override: str | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
        deadline_seconds: float = 15.0,
    ) -> None:
        self._http = http
        self._base = _override_base(endpoint_override) if endpoint_override else None
        self._max_body = max_body_bytes
        # The whole exchange never outlasts this, whatever timeouts the session has (a mount
        # may configure long ones): a server trickling bytes cannot hold a login open.
        self._deadline = deadline_seconds

    async def get_caller_identity(self, req: ValidatedRequest) -> CallerIdentity:
        base = self._base or f"https://{req.host}"
        # encoded=True: the query goes out byte-for-byte as validated (and signed), never
        # re-quoted or normalised.
        url = URL(f"{base}/?{req.raw_query}", encoded=True)
        try:
            async with asyncio.timeout(self._deadline):
                response = await self._http.request(
                    req.method,
                    url,
                    headers=[*req.headers, ("Accept-Encoding", "identity")],
                    allow_redirects=False,
                )
                try:
                    status = response.status
                    body = b"" if 300 <= status < 400 else await self._read(response)
                finally:
                    # A body read to its end has already returned the connection to the pool;
                    # otherwise this closes it, so a half-read connection is never reused. (Left
                    # open, asyncio would also log "Unclosed response" with the signed URL.)
                    response.close()
        except TimeoutError as exc:  # the deadline, the session's timeouts (ServerTimeoutError)
            raise UpstreamTimeout(
                "timed out waiting for STS", log_detail=f"{type(exc).__name__} from {req.host}"
            ) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise UpstreamError(
                "could not reach STS",
                log_detail=f"{type(exc).__name__} contacting {req.host}: {_scrub(str(exc), req)}",
            ) from None
        return _interpret(status, body)

    async def _read(self, response: aiohttp.ClientResponse) -> bytes:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self._max_body:
            raise _too_large(f"declared Content-Length {declared}")
        chunks: list[bytes] = []
        size = 0
        # Raw bytes: we asked for no content-coding, and the session never decompresses.
        async for chunk in response.content.iter_any():
            size += len(chunk)
            if size > self._max_body:
                raise _too_large(f"more than {self._max_body} bytes")
            chunks.append(chunk)
        return b"".join(chunks)


def _scrub(text: str, req: ValidatedRequest) -> str:
    """An exception's text for the log, without the signed query (aiohttp's ClientResponseError
    and InvalidURL quote the URL); withheld whole if a secret is still in it some other way."""
    text = text.replace(req.raw_query, "<query>")
    for name in ("Signature", "SecurityToken", "AccessKeyId"):
        value = req.params.get(name, "")
        if value and (value in text or percent_encode(value) in text):
            return "<detail withheld>"
    return text[:200]


def _too_large(detail: str) -> UpstreamError:
    return UpstreamError("STS response was too large", log_detail=detail)


def _override_base(endpoint: str) -> str:
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"endpoint override {endpoint!r} must be http(s)://host[:port]")
    if parts.path not in ("", "/") or parts.query or parts.fragment or "@" in parts.netloc:
        raise ValueError(f"endpoint override {endpoint!r} must be only scheme, host and port")
    return f"{parts.scheme}://{parts.netloc}"


def _interpret(status: int, body: bytes) -> CallerIdentity:
    if status == 200:
        try:
            identity = msgspec.json.decode(body, type=CallerIdentity)
        except msgspec.DecodeError as exc:
            raise UpstreamError(
                "STS returned a response wardgate cannot read",
                log_detail=f"status 200, undecodable body: {type(exc).__name__}",
            ) from None
        if not identity.Arn:
            raise UpstreamError(
                "STS returned no caller Arn", log_detail=f"RequestId={identity.RequestId}"
            )
        return identity
    if 300 <= status < 400:
        raise UpstreamError(
            "STS answered with a redirect, which wardgate does not follow",
            log_detail=f"status {status}",
        )
    try:
        error = msgspec.json.decode(body, type=_StsError)
    except msgspec.DecodeError:
        error = _StsError()
    code = error.Code if _STS_CODE_RE.fullmatch(error.Code) else ""
    if status == 429 and not code:
        code = "Throttling"
    request_id = error.RequestId if _STS_CODE_RE.fullmatch(error.RequestId) else ""
    detail = f"STS status {status} Code={code or '-'} RequestId={request_id or '-'}"
    if 400 <= status < 500 and code:
        message = f"STS rejected the request: {code}"
        if code.startswith(_DENIED_CODES):
            raise StsDenied(message, code=code, log_detail=detail)
        raise StsInvalid(message, code=code, log_detail=detail)
    raise UpstreamError(f"STS failed with HTTP {status}", log_detail=detail)
