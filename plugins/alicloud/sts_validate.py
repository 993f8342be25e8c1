"""Validating a caller's signed GetCallerIdentity request before wardgate sends anything.

An unauthenticated client chooses the URL wardgate will call, so every check that can be made
locally is made here, and the outbound request is later rebuilt from the validated parts only:
the host checked here, path `/`, and the raw query byte-for-byte (the signature covers the
decoded parameters, so re-encoding could break it). Rebuilding also means a URL that two
parsers would read differently (e.g. `https://sts.aliyuncs.com\\@evil.com/`) can never steer
the connection. No message echoes the Signature, the SecurityToken or the full URL.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import parse_qsl, urlsplit

from core.framework.errors import BadRequest
from plugins.alicloud.payload import (
    OPTIONAL_SIGNED_PARAMS,
    REQUIRED_SIGNED_PARAMS,
    URL_FIELD,
    check_header,
    quote_input,
)
from plugins.alicloud.signer import GLOBAL_STS_HOST, STS_API_VERSION, parse_timestamp

MAX_URL_CHARS = 8192
MAX_NONCE_CHARS = 128

_REGIONAL_HOST_RE = re.compile(r"^(?:sts|sts-vpc)\.([a-z0-9-]+)\.aliyuncs\.com$")
_REGION_ID_RE = re.compile(r"^[A-Za-z0-9-]+$")
# What may appear raw in a query (RFC 3986): the replay (a yarl URL built with encoded=True)
# sends these unchanged, so what STS receives is exactly what the client signed.
_QUERY_RE = re.compile(r"^[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]*$")
_BAD_PERCENT_RE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_PRINTABLE_RE = re.compile(r"^[!-~]+$")
# Decoded parameter values may hold spaces (a form-decoded `+`), never controls or non-ASCII.
_VALUE_RE = re.compile(r"^[ -~]*$")
_SIGNATURE_RE = re.compile(r"^[A-Za-z0-9+/]{27}=$")  # base64 of a 20-byte HMAC-SHA1

# Headers that describe this hop or the body rather than the request: the client must not
# steer the connection with them. Accept-Encoding is dropped because the client always asks
# for `identity`, so the body cap counts real bytes (a compressed body could expand far past it).
_DROPPED_HEADERS = frozenset(
    {
        "accept-encoding",
        "connection",
        "content-length",
        "expect",
        "host",
        "keep-alive",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
_ALLOWED_PARAMS = frozenset(REQUIRED_SIGNED_PARAMS + OPTIONAL_SIGNED_PARAMS)


@dataclass(frozen=True, slots=True, kw_only=True)
class ValidatedRequest:
    """A signed GetCallerIdentity request that passed every local check."""

    method: str
    host: str  # the validated, lower-case STS host
    region: str | None
    access_key_id: str
    nonce: str
    timestamp: datetime
    # Hidden from repr: they carry the Signature and possibly a SecurityToken.
    raw_query: str = field(repr=False)
    params: dict[str, str] = field(repr=False)
    headers: list[tuple[str, str]] = field(repr=False)

    @property
    def url(self) -> str:
        return f"https://{self.host}/?{self.raw_query}"


class TimestampOutsideWindow(BadRequest):
    """The signed Timestamp is too far from the server clock (a stale or replayed request)."""


def _refuse(problem: str) -> BadRequest:
    return BadRequest(f"{URL_FIELD} {problem}")


def validate_signed_request(
    url: str,
    method: str,
    headers: Iterable[tuple[str, str]] | Mapping[str, str],
    *,
    now: datetime,
    max_skew_seconds: int,
) -> ValidatedRequest:
    """Every check that can be made before contacting STS; raises BadRequest naming the fault."""
    if method not in ("GET", "POST"):
        raise BadRequest(f"STS requests are GET or POST, not {quote_input(method)}")
    if len(url) > MAX_URL_CHARS:
        raise _refuse("is too long")
    # urlsplit silently drops tabs and newlines and strips leading controls: refuse them all
    # first, so what we validate is exactly what was signed.
    if not _PRINTABLE_RE.fullmatch(url):
        raise _refuse("contains whitespace, control or non-ASCII characters")
    if "#" in url:
        raise _refuse("must not have a fragment")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise _refuse("is not a valid URL") from None
    if parts.scheme != "https":
        raise _refuse(f"scheme {quote_input(parts.scheme)} is not https")
    if "@" in parts.netloc:
        raise _refuse("must not contain userinfo")
    if port not in (None, 443):
        raise _refuse(f"port {port} is not allowed (only 443)")
    host = parts.hostname or ""
    region = _check_host(host)
    if parts.path not in ("", "/"):
        raise _refuse(f'path {quote_input(parts.path)} is not "/"')
    params = _parse_query(parts.query)
    region = _check_region_id(params.get("RegionId", ""), region, host)
    _check_params(params)
    timestamp = _check_timestamp(params["Timestamp"], now, max_skew_seconds)
    return ValidatedRequest(
        method=method,
        host=host,
        region=region,
        access_key_id=params["AccessKeyId"],
        nonce=params["SignatureNonce"],
        timestamp=timestamp,
        raw_query=parts.query,
        params=params,
        headers=_forwarded_headers(headers),
    )


def _check_host(host: str) -> str | None:
    if host == GLOBAL_STS_HOST:
        return None
    match = _REGIONAL_HOST_RE.fullmatch(host)
    if match is None:
        raise _refuse(f"host {quote_input(host)} is not an Alibaba Cloud STS endpoint")
    return match.group(1)


def _parse_query(query: str) -> dict[str, str]:
    if not _QUERY_RE.fullmatch(query) or _BAD_PERCENT_RE.search(query):
        raise _refuse("has a malformed query string")
    try:
        pairs = parse_qsl(
            query,
            keep_blank_values=True,
            strict_parsing=True,
            errors="strict",
            max_num_fields=64,  # bounds the work; unknown names are refused below
        )
    except (ValueError, UnicodeDecodeError):  # empty field, no '=', bad UTF-8, too many
        raise _refuse("has a malformed query string") from None
    params: dict[str, str] = {}
    for name, value in pairs:
        if name not in _ALLOWED_PARAMS:
            raise _refuse(f"has an unexpected parameter {quote_input(name)}")
        if name in params:
            # STS and we could read different copies; only one reading is safe: none.
            raise _refuse(f"has the parameter {name} more than once")
        if not _VALUE_RE.fullmatch(value):
            raise _refuse(f"parameter {name} contains control or non-ASCII characters")
        params[name] = value
    missing = [name for name in REQUIRED_SIGNED_PARAMS if not params.get(name)]
    if missing:
        raise _refuse(f"is missing the parameters: {', '.join(missing)}")
    return params


def _check_region_id(region_id: str, host_region: str | None, host: str) -> str | None:
    if not region_id:
        return host_region
    if not _REGION_ID_RE.fullmatch(region_id):
        raise _refuse(f"RegionId {quote_input(region_id)} is not a valid region")
    if host_region is not None and region_id.lower() != host_region:
        raise _refuse(
            f"RegionId {quote_input(region_id)} does not match the host {quote_input(host)}"
        )
    return region_id.lower()


def _check_params(params: dict[str, str]) -> None:
    expected = {
        "Action": "GetCallerIdentity",
        "Version": STS_API_VERSION,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
    }
    for name, want in expected.items():
        if params[name] != want:
            raise _refuse(f"{name} must be {want}, not {quote_input(params[name])}")
    # Clients differ in case (the Tea SDK sends "json"); STS matches it case-insensitively.
    if params["Format"].upper() != "JSON":
        raise _refuse(f"Format must be JSON, not {quote_input(params['Format'])}")
    nonce = params["SignatureNonce"]
    if len(nonce) > MAX_NONCE_CHARS or not _PRINTABLE_RE.fullmatch(nonce):
        raise _refuse(f"SignatureNonce must be 1 to {MAX_NONCE_CHARS} printable characters")
    key_id = params["AccessKeyId"]
    if len(key_id) > 128 or not _PRINTABLE_RE.fullmatch(key_id):
        raise _refuse("AccessKeyId is malformed")
    if not _SIGNATURE_RE.fullmatch(params["Signature"]):
        raise _refuse("Signature is not a base64 HMAC-SHA1 value")


def _check_timestamp(value: str, now: datetime, max_skew_seconds: int) -> datetime:
    try:
        stamp = parse_timestamp(value)
    except ValueError:
        raise _refuse(
            f"Timestamp {quote_input(value)} is not a UTC time like 2025-01-15T08:30:00Z"
        ) from None
    skew = (now - stamp).total_seconds()
    if skew > max_skew_seconds:
        raise TimestampOutsideWindow(
            f"{URL_FIELD} Timestamp is more than {max_skew_seconds} seconds old"
        )
    if -skew > max_skew_seconds:
        raise TimestampOutsideWindow(
            f"{URL_FIELD} Timestamp is more than {max_skew_seconds} seconds in the future"
        )
    return stamp


def _forwarded_headers(
    headers: Iterable[tuple[str, str]] | Mapping[str, str],
) -> list[tuple[str, str]]:
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    kept: list[tuple[str, str]] = []
    for name, value in pairs:
        check_header(name, value)
        lower = name.lower()
        if lower in _DROPPED_HEADERS or lower.startswith("proxy-"):
            continue
        # RFC 9110: surrounding whitespace is not part of a field value.
        kept.append((name, value.strip(" \t")))
    return kept
