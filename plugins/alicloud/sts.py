"""Replaying a validated GetCallerIdentity request to STS, and reading its answer safely.

The request was checked by `validate_signed_request` (in `sts_validate.py`, re-exported here
with `NonceLedger` from `nonce.py`, so `sts` is the one import the login path needs). The answer
is untrusted too: the body is capped, redirects are not followed, and only STS's error Code
reaches the client, never its Message (it embeds the string-to-sign with the AccessKeyId).
"""

from __future__ import annotations

import asyncio
import re
from urllib.parse import urlsplit

import httpx
import msgspec

from core.framework.errors import (
    BadRequest,
    PermissionDenied,
    UpstreamError,
    UpstreamTimeout,
)
from plugins.alicloud.nonce import NonceLedger
from plugins.alicloud.signer import USER_AGENT
from plugins.alicloud.sts_validate import ValidatedRequest, validate_signed_request

__all__ = [
    "CallerIdentity",
    "NonceLedger",
    "StsClient",
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
) -> httpx.AsyncClient:
    """The outbound client for STS: no redirects, no environment proxies, TLS verified."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout, connect=connect_timeout),
        follow_redirects=False,
        # Never let HTTPS_PROXY/SSL_CERT_FILE of the server's environment redirect or weaken
        # the call that proves an identity; a proxy must be configured explicitly.
        trust_env=False,
        verify=True,
        proxy=proxy,
        headers={"User-Agent": USER_AGENT},
    )


class StsClient:
    """Replays a validated request to STS and decodes the caller identity."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        endpoint_override: str | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
        deadline_seconds: float = 15.0,
    ) -> None:
        self._http = http
        self._base = _override_base(endpoint_override) if endpoint_override else None
        self._max_body = max_body_bytes
        # httpx timeouts bound each read, not the whole exchange: a server trickling bytes
        # could otherwise hold a login open for max_body * read timeout.
        self._deadline = deadline_seconds

    async def get_caller_identity(self, req: ValidatedRequest) -> CallerIdentity:
        base = self._base or f"https://{req.host}"
        request = self._http.build_request(
            req.method,
            f"{base}/?{req.raw_query}",
            headers=[*req.headers, ("Accept-Encoding", "identity")],
        )
        try:
            async with asyncio.timeout(self._deadline):
                response = await self._http.send(request, stream=True)
                try:
                    status = response.status_code
                    body = b"" if 300 <= status < 400 else await self._read(response)
                finally:
                    await response.aclose()
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise UpstreamTimeout(
                "timed out waiting for STS", log_detail=f"{type(exc).__name__} from {req.host}"
            ) from None
        except httpx.TransportError as exc:
            detail = str(exc).replace(req.raw_query, "<query>")[:200]
            raise UpstreamError(
                "could not reach STS",
                log_detail=f"{type(exc).__name__} contacting {req.host}: {detail}",
            ) from None
        return _interpret(status, body)

    async def _read(self, response: httpx.Response) -> bytes:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self._max_body:
            raise _too_large(f"declared Content-Length {declared}")
        chunks: list[bytes] = []
        size = 0
        # Raw bytes: we asked for no content-coding, and never decompress an untrusted body.
        async for chunk in response.aiter_raw():
            size += len(chunk)
            if size > self._max_body:
                raise _too_large(f"more than {self._max_body} bytes")
            chunks.append(chunk)
        return b"".join(chunks)


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
    request_id = error.RequestId if _STS_CODE_RE.fullmatch(error.RequestId) else ""
    detail = f"STS status {status} Code={code or '-'} RequestId={request_id or '-'}"
    if 400 <= status < 500 and code:
        message = f"STS rejected the request: {code}"
        if code.startswith(_DENIED_CODES):
            raise PermissionDenied(message, log_detail=detail)
        raise BadRequest(message, log_detail=detail)
    raise UpstreamError(f"STS failed with HTTP {status}", log_detail=detail)
