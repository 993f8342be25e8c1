"""Decoding Vault's `alicloud` login payload into a URL and headers (vault-alicloud.md §2.1).

Pure functions: every refusal is a `BadRequest` naming the field, and none of them echoes
the URL or a header value (they carry a signature and possibly a SecurityToken).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping

import msgspec

from core.framework.errors import BadRequest
from plugins.alicloud.signer import REGION_RE, percent_encode, sts_host

URL_FIELD = "identity_request_url"
HEADERS_FIELD = "identity_request_headers"

# A signed URL with an STS token is ~1.5 KB; anything far larger is not a login.
MAX_URL_BYTES = 8192
MAX_HEADERS_BYTES = 16384
MAX_HEADERS = 64
# The longest texts accepted for the two login fields (their maxLength in the OpenAPI document).
MAX_URL_BASE64 = MAX_URL_BYTES * 4 // 3 + 4
MAX_HEADERS_TEXT = MAX_HEADERS_BYTES * 4 // 3 + 4

# RFC 9110 field-name: a token. Anything else could not be sent, or would be sent mangled.
_TOKEN_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
# Field values: visible ASCII plus space and tab. CR/LF/NUL (header injection) and the other
# controls are refused; so is non-ASCII, which STS never needs and HTTP gives no agreed encoding.
_VALUE_RE = re.compile(r"^[\t\x20-\x7e]*$")

# The signed parameters of the second login form. SignatureType is optional because the
# legacy SDKs sign it (empty); RegionId and SecurityToken because only some clients send them.
REQUIRED_SIGNED_PARAMS = (
    "AccessKeyId",
    "Action",
    "Format",
    "Signature",
    "SignatureMethod",
    "SignatureNonce",
    "SignatureVersion",
    "Timestamp",
    "Version",
)
OPTIONAL_SIGNED_PARAMS = ("RegionId", "SecurityToken", "SignatureType")

_raw_object = msgspec.json.Decoder(dict[str, msgspec.Raw])
_raw_list = msgspec.json.Decoder(list[msgspec.Raw])
_string = msgspec.json.Decoder(str)


def _std_b64decode(value: str) -> bytes | None:
    """Go's `base64.StdEncoding`: standard alphabet, padding required, CR/LF ignored."""
    try:
        return base64.b64decode(value.replace("\r", "").replace("\n", ""), validate=True)
    except (binascii.Error, ValueError):
        return None


def decode_identity_request_url(value: object) -> str:
    """The signed URL from its base64 form (a raw URL is refused, as in Vault)."""
    if value is None or value == "":
        raise BadRequest(f"missing {URL_FIELD}")
    if not isinstance(value, str):
        raise BadRequest(f"{URL_FIELD} must be a base64 string")
    if len(value) > MAX_URL_BASE64:
        raise BadRequest(f"{URL_FIELD} is too long")
    raw = _std_b64decode(value)
    if raw is None:
        raise BadRequest(f"{URL_FIELD} is not valid base64")
    try:
        url = raw.decode("ascii")
    except UnicodeDecodeError:
        # A correctly signed URL is percent-encoded, hence pure ASCII.
        raise BadRequest(f"{URL_FIELD} does not decode to an ASCII URL") from None
    if not url:
        raise BadRequest(f"missing {URL_FIELD}")
    return url


def check_header(name: str, value: str) -> None:
    """Refuse header names/values that could inject or smuggle anything."""
    if not _TOKEN_RE.fullmatch(name):
        raise BadRequest(f"{HEADERS_FIELD} has an invalid header name {quote_input(name)}")
    if not _VALUE_RE.fullmatch(value):
        raise BadRequest(
            f"{HEADERS_FIELD} value of header {quote_input(name)} "
            "contains control or non-ASCII characters"
        )


def decode_identity_request_headers(value: object) -> list[tuple[str, str]]:
    """Headers from any shape Vault's TypeHeader accepts, tried in Vault's order:

    a JSON object (string, number, or list values); a string holding std-base64 of a JSON
    object, or (when it is not base64) the JSON object itself; a list of "Key:Value" strings.
    """
    if isinstance(value, str):
        pairs = _from_string(value)
    elif isinstance(value, dict):
        pairs = _from_object(value)
    elif isinstance(value, list):
        pairs = _from_lines(value)
    elif value is None:
        pairs = []
    else:
        raise BadRequest(f"{HEADERS_FIELD} is not in an expected format")
    if not pairs:
        raise BadRequest(f"missing {HEADERS_FIELD}")
    if len(pairs) > MAX_HEADERS:
        raise BadRequest(f"{HEADERS_FIELD} has more than {MAX_HEADERS} headers")
    # One total cap for every form (object, list, base64, JSON string), counted as the
    # headers would go on the wire (`Name: value` CRLF): nothing larger is forwarded to STS.
    if sum(len(name.encode()) + len(v.encode()) + 4 for name, v in pairs) > MAX_HEADERS_BYTES:
        raise BadRequest(f"{HEADERS_FIELD} is too large (at most {MAX_HEADERS_BYTES} bytes)")
    for name, header_value in pairs:
        check_header(name, header_value)
    return pairs


def _from_string(value: str) -> list[tuple[str, str]]:
    if value == "":
        return []
    if len(value) > MAX_HEADERS_TEXT:
        raise BadRequest(f"{HEADERS_FIELD} is too long")
    decoded = _std_b64decode(value)
    # Vault: when the string is base64, its content must be JSON (no fallback); only a
    # string that is not base64 is tried as JSON itself.
    document = decoded if decoded is not None else value.encode()
    try:
        raw = _raw_object.decode(document)
    except msgspec.DecodeError:
        raise BadRequest(f"{HEADERS_FIELD} is not a JSON object or base64 of one") from None
    pairs: list[tuple[str, str]] = []
    for name, item in raw.items():
        pairs.extend((name, v) for v in _raw_values(name, item))
    return pairs


def _raw_values(name: str, item: msgspec.Raw) -> list[str]:
    """A raw JSON value as header values; numbers keep their literal text (Go json.Number)."""
    text = bytes(item).strip()
    if text.startswith(b"["):
        return [v for element in _raw_list.decode(text) for v in _raw_scalar(name, element)]
    return _raw_scalar(name, item)


def _raw_scalar(name: str, item: msgspec.Raw) -> list[str]:
    text = bytes(item).strip()
    if text.startswith(b'"'):
        return [_string.decode(text)]
    if text and text[:1] in b"-0123456789":
        return [text.decode()]
    raise BadRequest(
        f"{HEADERS_FIELD} value of header {quote_input(name)} is not a string or number"
    )


def _from_object(value: dict[object, object]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for name, item in value.items():
        if not isinstance(name, str):
            raise BadRequest(f"{HEADERS_FIELD} has a non-string header name")
        items = item if isinstance(item, list) else [item]
        for element in items:
            pairs.append((name, _scalar(name, element)))
    return pairs


def _scalar(name: str, item: object) -> str:
    # bool is an int subclass in Python but not a number in JSON: refuse it first.
    if isinstance(item, bool) or not isinstance(item, str | int | float):
        raise BadRequest(
            f"{HEADERS_FIELD} value of header {quote_input(name)} is not a string or number"
        )
    return item if isinstance(item, str) else str(item)


def _from_lines(value: list[object]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for line in value:
        if not isinstance(line, str):
            raise BadRequest(f'{HEADERS_FIELD} list entries must be "Key:Value" strings')
        name, sep, header_value = line.partition(":")
        if not sep or not name:
            raise BadRequest(f'{HEADERS_FIELD} list entries must be "Key:Value" strings')
        pairs.append((name, header_value))  # the value is not trimmed, as in Vault
    return pairs


def url_from_signed_params(
    params: Mapping[str, object],
    *,
    region_host: Callable[[str | None], str] = sts_host,
) -> str:
    """Rebuild the signed URL from the signed parameters themselves (the second login form).

    Only the signed parameters are taken, so other login fields (e.g. `role`) never reach
    STS. The host is `region_host(RegionId or None)`: by default `sts.<RegionId>.aliyuncs.com`,
    or `sts.aliyuncs.com` without a RegionId. Such clients sign for GET.
    """
    missing = [name for name in REQUIRED_SIGNED_PARAMS if params.get(name) in (None, "")]
    if missing:
        raise BadRequest(f"missing signed parameters: {', '.join(missing)}")
    picked: dict[str, str] = {}
    for name in REQUIRED_SIGNED_PARAMS + OPTIONAL_SIGNED_PARAMS:
        item = params.get(name)
        if item is None:
            continue
        if not isinstance(item, str):
            raise BadRequest(f"signed parameter {name} must be a string")
        picked[name] = item
    region = picked.get("RegionId") or None
    if region is not None and not REGION_RE.fullmatch(region):
        raise BadRequest(f"RegionId {quote_input(region)} is not a valid region")
    query = "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(picked.items()))
    return f"https://{region_host(region)}/?{query}"


def quote_input(value: str) -> str:
    """A bounded, double-quoted rendering of client input for messages.

    JSON string escaping turns control characters into `\\n`-style escapes, so client input
    can never start a new log line or forge a message.
    """
    return msgspec.json.encode(value[:64] + ("..." if len(value) > 64 else "")).decode()
