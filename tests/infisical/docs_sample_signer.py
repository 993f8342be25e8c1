"""An independent signer: a Python port of Infisical's docs' Node sample (spec
infisical-alicloud.md §6), sharing no code with wardgate's signer.

    params = {Action, Format, Version, AccessKeyId, SignatureMethod,
              Timestamp: new Date().toISOString(), SignatureVersion,
              SignatureNonce: crypto.randomBytes(16).toString("hex")}
    canonical = Object.keys(params).sort()
        .map(k => `${encodeURIComponent(k)}=${encodeURIComponent(params[k])}`).join("&")
    stringToSign = `GET&%2F&${encodeURIComponent(canonical)}`
    Signature = createHmac("sha1", `${SECRET}&`).update(stringToSign).digest("base64")
    body = {identityId, Signature, ...params}
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote


def encode_uri_component(value: str) -> str:
    """JavaScript's encodeURIComponent: leaves A-Z a-z 0-9 - _ . ! ~ * ' ( ) as they are."""
    return quote(value, safe="-_.!~*'()")


def to_iso_string(moment: datetime) -> str:
    """JavaScript's Date.toISOString(): milliseconds and Z."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def docs_signature(params: dict[str, str], secret: str) -> str:
    canonical = "&".join(
        f"{encode_uri_component(k)}={encode_uri_component(params[k])}" for k in sorted(params)
    )
    string_to_sign = f"GET&%2F&{encode_uri_component(canonical)}"
    digest = hmac.new(f"{secret}&".encode(), string_to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def docs_login_body(
    identity_id: str,
    access_key_id: str,
    secret: str,
    now: datetime,
    *,
    security_token: str | None = None,
    nonce: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The body the docs' sample posts (plus `SecurityToken`, signed, for STS credentials)."""
    params = {
        "Action": "GetCallerIdentity",
        "Format": "JSON",
        "Version": "2015-04-01",
        "AccessKeyId": access_key_id,
        "SignatureMethod": "HMAC-SHA1",
        "Timestamp": to_iso_string(now),
        "SignatureVersion": "1.0",
        "SignatureNonce": nonce or os.urandom(16).hex(),
    }
    if security_token is not None:
        params["SecurityToken"] = security_token
    return {
        "identityId": identity_id,
        "Signature": docs_signature(params, secret),
        **params,
        **extra,
    }
