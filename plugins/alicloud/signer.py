"""Alibaba Cloud RPC signature v1 (HMAC-SHA1), as STS `GetCallerIdentity` verifies it.

The algorithm (spec alibaba-sts.md §1.2): percent-encode every parameter name and value
RFC 3986 style, sort by name, join into a canonical query, encode that a second time inside
`METHOD&%2F&...`, and HMAC-SHA1 it with the key `secret + "&"`.

`sign_get_caller_identity` builds a request the way Vault's Go client does (vault-alicloud.md
§4.2), so its output is exactly what a Vault `alicloud` login sends.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import quote

import msgspec

USER_AGENT = "wardgate/0.1.0 (alicloud-login)"
STS_API_VERSION = "2015-04-01"
GLOBAL_STS_HOST = "sts.aliyuncs.com"

# Region IDs are lower-case words joined by hyphens (cn-hangzhou, cn-wuhan-lr, us-east-1).
REGION_RE = re.compile(r"^[a-z0-9-]+$")


class SignedRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A signed GetCallerIdentity request, ready to send or to hand to a Vault login."""

    url: str
    method: str
    params: dict[str, str]  # every query parameter, Signature included
    headers: dict[str, str]

    def login_data(self) -> dict[str, str]:
        """The two login fields Vault's CLI sends (vault-alicloud.md §4.2 "Payload").

        Headers are encoded like Go's `json.Marshal(http.Header)`: compact JSON, keys in
        byte order, each value a one-element list.
        """
        header_json = msgspec.json.encode(
            {name: [value] for name, value in self.headers.items()}, order="sorted"
        )
        return {
            "identity_request_url": base64.b64encode(self.url.encode()).decode(),
            "identity_request_headers": base64.b64encode(header_json).decode(),
        }


def percent_encode(value: str) -> str:
    """RFC 3986 encoding of the UTF-8 bytes: only `A-Z a-z 0-9 - _ . ~` stay literal.

    `quote` with no extra safe characters is exactly that (upper-case hex, space as %20,
    `*` as %2A, `~` literal), so there is no form-encoding fix-up to get wrong.
    """
    return quote(value, safe="")


def canonical_query(params: Mapping[str, str]) -> str:
    """`enc(name)=enc(value)` pairs sorted by name (code-point order), joined with `&`.

    `Signature` is left out: it is the result of signing, never an input to it.
    """
    return "&".join(
        f"{percent_encode(name)}={percent_encode(params[name])}"
        for name in sorted(params)
        if name != "Signature"
    )


def string_to_sign(method: str, params: Mapping[str, str]) -> str:
    """`METHOD&%2F&enc(canonical query)`; the method is the one the request is sent with."""
    return f"{method.upper()}&{percent_encode('/')}&{percent_encode(canonical_query(params))}"


def sign_string(text: str, secret: str) -> str:
    """Base64 HMAC-SHA1 of `text` keyed with `secret&` (the `&` is part of the key)."""
    digest = hmac.new(f"{secret}&".encode(), text.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def sign(method: str, params: Mapping[str, str], secret: str) -> str:
    return sign_string(string_to_sign(method, params), secret)


def format_timestamp(moment: datetime) -> str:
    """STS wants UTC `YYYY-MM-DDThh:mm:ssZ`."""
    if moment.tzinfo is None:
        # A naive datetime is ambiguous; signing local time as UTC would be silently wrong.
        raise ValueError("timestamp must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_TIMESTAMP_RE = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?Z$")


def parse_timestamp(value: str) -> datetime:
    """Parse `YYYY-MM-DDThh:mm:ss[.fff]Z` (fractions: JS `toISOString()` clients send them).

    Stricter than `datetime.fromisoformat`, which also takes dates alone and UTC offsets that
    STS does not. Raises ValueError.
    """
    match = _TIMESTAMP_RE.fullmatch(value)
    if match is None:
        raise ValueError(f"not a UTC timestamp: {value!r}")
    year, month, day, hour, minute, second, fraction = match.groups()
    # Sub-second precision is irrelevant to a window of minutes; keep microseconds.
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    return datetime(
        int(year), int(month), int(day), int(hour), int(minute), int(second), micros, UTC
    )


def sts_host(region: str | None) -> str:
    """The public STS endpoint for `region`, or the global one when there is no region."""
    if region is None:
        return GLOBAL_STS_HOST
    if not REGION_RE.fullmatch(region):
        raise ValueError(f"invalid region {region!r}: expected lower-case letters, digits, '-'")
    return f"sts.{region}.aliyuncs.com"


def sign_get_caller_identity(
    access_key_id: str,
    secret: str,
    *,
    region: str | None,
    security_token: str | None,
    method: str = "POST",
    host: str | None = None,
    timestamp: datetime | None = None,
    nonce: str | None = None,
) -> SignedRequest:
    """Sign a GetCallerIdentity call with the parameters Vault's Go client sends.

    `host` overrides the endpoint (e.g. `sts-vpc.<region>.aliyuncs.com`); by default it is
    `sts.<region>.aliyuncs.com`, or `sts.aliyuncs.com` without a region.
    """
    method = method.upper()
    if method not in ("GET", "POST"):
        raise ValueError(f"STS accepts only GET and POST, not {method!r}")
    target = host if host is not None else sts_host(region)
    params = {
        "AccessKeyId": access_key_id,
        "Action": "GetCallerIdentity",
        "Format": "JSON",
        "SignatureMethod": "HMAC-SHA1",
        # The Go SDK's nonce is 32 hex digits; any unique string works.
        "SignatureNonce": nonce if nonce is not None else secrets.token_hex(16),
        # The Go (and legacy Python) SDK sends an empty SignatureType, and signs it.
        "SignatureType": "",
        "SignatureVersion": "1.0",
        "Timestamp": format_timestamp(timestamp or datetime.now(UTC)),
        "Version": STS_API_VERSION,
    }
    if region is not None:
        params["RegionId"] = region
    if security_token is not None:
        params["SecurityToken"] = security_token
    params["Signature"] = sign(method, params, secret)
    # Every value percent-encoded: a raw `+` in a SecurityToken or Signature would be
    # form-decoded to a space by STS and break the signature.
    query = "&".join(f"{percent_encode(k)}={percent_encode(params[k])}" for k in sorted(params))
    headers = {
        "Accept-Encoding": "identity",
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": USER_AGENT,
        "x-acs-action": "GetCallerIdentity",
        "x-acs-credentials-provider": "static_sts" if security_token else "static_ak",
        "x-acs-version": STS_API_VERSION,
    }
    return SignedRequest(
        url=f"https://{target}/?{query}", method=method, params=params, headers=headers
    )
