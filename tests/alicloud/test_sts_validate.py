"""validate_signed_request: every refusal happens before any outbound request, and no
message echoes the Signature, the SecurityToken or the URL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.framework.errors import BadRequest
from plugins.alicloud.payload import url_from_signed_params
from plugins.alicloud.signer import percent_encode, sign_get_caller_identity
from plugins.alicloud.sts import ValidatedRequest, validate_signed_request

from .test_signer import VECTORS

NOW = datetime(2025, 1, 15, 8, 30, tzinfo=UTC)
TOKEN = "CAIS+secret/Token=Value=="
SIGNED = sign_get_caller_identity(
    "STS.KeyId0001",
    "secret",
    region="cn-hangzhou",
    security_token=TOKEN,
    timestamp=NOW,
    nonce="0123456789abcdef0123456789abcdef",
)
SIGNATURE = SIGNED.params["Signature"]
HOST = "sts.cn-hangzhou.aliyuncs.com"
# Things no error message may contain, in every spelling a URL could carry them.
SECRETS = [SIGNATURE, percent_encode(SIGNATURE), TOKEN, percent_encode(TOKEN), "CAIS"]


def build(
    params: dict[str, str] | None = None, *, prefix: str = f"https://{HOST}/?", **changes: Any
) -> str:
    merged = dict(SIGNED.params if params is None else params)
    for name, value in changes.items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    return prefix + "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in merged.items())


def validate(
    url: str, method: str = "POST", headers: Any = (), now: datetime = NOW
) -> ValidatedRequest:
    return validate_signed_request(url, method, headers, now=now, max_skew_seconds=900)


def test_accepts_vaults_request() -> None:
    req = validate(SIGNED.url, headers=SIGNED.headers)
    assert req.host == HOST
    assert req.region == "cn-hangzhou"
    assert req.access_key_id == "STS.KeyId0001"
    assert req.nonce == "0123456789abcdef0123456789abcdef"
    assert req.timestamp == NOW
    assert req.raw_query == SIGNED.url.split("?", 1)[1]  # byte-for-byte
    assert req.params["SecurityToken"] == TOKEN  # form-decoded
    assert req.url == SIGNED.url


@pytest.mark.parametrize(
    ("host", "region"),
    [
        ("sts.cn-hangzhou.aliyuncs.com", "cn-hangzhou"),
        ("sts-vpc.cn-hangzhou.aliyuncs.com", "cn-hangzhou"),
        ("sts.aliyuncs.com", "cn-hangzhou"),  # the legacy SDK: global host plus a RegionId
        ("STS.CN-HANGZHOU.ALIYUNCS.COM", "cn-hangzhou"),  # hosts compare lower-case
        ("sts.cn-hangzhou.aliyuncs.com:443", "cn-hangzhou"),
    ],
)
def test_accepts_the_three_host_forms(host: str, region: str) -> None:
    req = validate(build(prefix=f"https://{host}/?"))
    assert req.host == host.lower().removesuffix(":443")
    assert req.region == region


def test_global_host_without_region() -> None:
    req = validate(build(prefix="https://sts.aliyuncs.com/?", RegionId=None))
    assert (req.host, req.region) == ("sts.aliyuncs.com", None)


def test_empty_path_is_accepted_and_rebuilt_as_slash() -> None:
    req = validate(build(prefix=f"https://{HOST}?"))
    assert req.url.startswith(f"https://{HOST}/?")


@pytest.mark.parametrize(
    ("name", "now"),
    [
        ("A_newsdk_ramuser_POST", NOW),  # Format=json, no RegionId
        ("B_newsdk_ststoken_POST", NOW),
        ("C_oldsdk_ramuser_POST", NOW),  # SignatureType=, RegionId with the global host
        ("D_oldsdk_ststoken_GET", NOW),
        ("E_infisical_shape_GET", datetime(2025, 6, 11, 8, 20, tzinfo=UTC)),  # .123Z
    ],
)
def test_accepts_every_sdk_vector(name: str, now: datetime) -> None:
    v = VECTORS[name]
    req = validate(v["url"], v["method"], now=now)
    assert {**v["signed_params"], "Signature": v["signature"]} == req.params


def test_second_login_form_round_trips() -> None:
    e = VECTORS["E_infisical_shape_GET"]
    url = url_from_signed_params({**e["signed_params"], "Signature": e["signature"]})
    req = validate(url, "GET", now=datetime(2025, 6, 11, 8, 15, tzinfo=UTC))
    assert req.params["Signature"] == e["signature"]


REFUSALS: list[tuple[str, str, str]] = [
    # (case, url, message fragment)
    ("http", build(prefix=f"http://{HOST}/?"), 'scheme "http" is not https'),
    ("ftp", build(prefix=f"ftp://{HOST}/?"), 'scheme "ftp" is not https'),
    (
        "suffix",
        build(prefix="https://sts.cn-hangzhou.aliyuncs.com.evil.com/?"),
        'host "sts.cn-hangzhou.aliyuncs.com.evil.com" is not an Alibaba Cloud STS endpoint',
    ),
    ("evil", build(prefix="https://evil.com/?"), 'host "evil.com" is not an Alibaba Cloud STS'),
    ("trailing dot", build(prefix="https://sts.aliyuncs.com./?"), "is not an Alibaba Cloud STS"),
    ("underscore", build(prefix="https://sts.cn_hz.aliyuncs.com/?"), "is not an Alibaba Cloud"),
    ("prefix", build(prefix="https://xsts.cn-hangzhou.aliyuncs.com/?"), "is not an Alibaba"),
    ("vpc global", build(prefix="https://sts-vpc.aliyuncs.com/?"), "is not an Alibaba Cloud"),
    ("ip", build(prefix="https://127.0.0.1/?"), 'host "127.0.0.1" is not an Alibaba'),
    ("no host", build(prefix="https:///?"), 'host "" is not'),
    ("userinfo", build(prefix=f"https://user:pw@{HOST}/?"), "must not contain userinfo"),
    ("userinfo trick", build(prefix=f"https://{HOST}@evil.com/?"), "must not contain userinfo"),
    ("backslash", build(prefix=f"https://{HOST}\\@evil.com/?"), "must not contain userinfo"),
    ("port", build(prefix=f"https://{HOST}:8443/?"), "port 8443 is not allowed"),
    ("port 80", build(prefix=f"https://{HOST}:80/?"), "port 80 is not allowed"),
    ("bad port", build(prefix=f"https://{HOST}:x/?"), "is not a valid URL"),
    ("path", build(prefix=f"https://{HOST}/x?"), 'path "/x" is not "/"'),
    ("path dots", build(prefix=f"https://{HOST}/../?"), 'is not "/"'),
    ("fragment", build() + "#frag", "must not have a fragment"),
    ("region mismatch", build(RegionId="us-east-1"), 'RegionId "us-east-1" does not match'),
    ("region chars", build(RegionId="cn_hz"), 'RegionId "cn_hz" is not a valid region'),
    ("action", build(Action="AssumeRole"), 'Action must be GetCallerIdentity, not "AssumeRole"'),
    ("format", build(Format="XML"), 'Format must be JSON, not "XML"'),
    ("version", build(Version="2016-01-01"), "Version must be 2015-04-01"),
    ("sig method", build(SignatureMethod="HMAC-SHA256"), "SignatureMethod must be HMAC-SHA1"),
    ("sig version", build(SignatureVersion="2.0"), "SignatureVersion must be 1.0"),
    ("old", build(Timestamp="2025-01-15T08:14:59Z"), "more than 900 seconds old"),
    ("future", build(Timestamp="2025-01-15T08:45:01Z"), "more than 900 seconds in the future"),
    ("ts format", build(Timestamp="2025-01-15 08:30:00"), "is not a UTC time"),
    ("ts offset", build(Timestamp="2025-01-15T08:30:00+00:00"), "is not a UTC time"),
    ("no nonce", build(SignatureNonce=None), "missing the parameters: SignatureNonce"),
    ("empty nonce", build(SignatureNonce=""), "missing the parameters: SignatureNonce"),
    ("long nonce", build(SignatureNonce="n" * 129), "SignatureNonce must be 1 to 128"),
    ("nonce space", build(SignatureNonce="a b"), "SignatureNonce must be 1 to 128 printable"),
    ("no signature", build(Signature=None), "missing the parameters: Signature"),
    ("bad signature", build(Signature="abc"), "Signature is not a base64 HMAC-SHA1 value"),
    (
        "missing several",
        build(Action=None, Timestamp=None),
        "missing the parameters: Action, Timestamp",
    ),
    ("unknown", build(Extra="1"), 'unexpected parameter "Extra"'),
    ("duplicate", build() + "&SignatureNonce=other", "parameter SignatureNonce more than once"),
    ("dup token", build() + f"&SecurityToken={percent_encode(TOKEN)}", "SecurityToken more"),
    ("cr", build() + "\r", "whitespace, control or non-ASCII"),
    ("lf", build().replace("&Action", "\n&Action"), "whitespace, control or non-ASCII"),
    ("tab", build().replace("&Action", "\t&Action"), "whitespace, control or non-ASCII"),
    ("space", build() + " ", "whitespace, control or non-ASCII"),
    ("non-ascii", build() + "é", "whitespace, control or non-ASCII"),
    ("encoded lf", build(SignatureNonce="a\nb"), "contains control or non-ASCII"),
    ("encoded nul", build(AccessKeyId="k\x00"), "contains control or non-ASCII"),
    ("bad percent", build() + "&x=%zz", "malformed query string"),
    ("bad utf-8", build() + "&x=%ff", "malformed query string"),
    ("empty field", build() + "&&", "malformed query string"),
    ("no equals", build() + "&Action", "malformed query string"),
    ("raw brackets", build() + "&x=[1]", "malformed query string"),
    ("too long", build(SecurityToken="C" * 9000), "is too long"),
]


@pytest.mark.parametrize(("case", "url", "message"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refusals(case: str, url: str, message: str) -> None:
    with pytest.raises(BadRequest) as caught:
        validate(url)
    error = caught.value
    assert error.status == 400
    assert message in error.message
    for secret in SECRETS:
        assert secret not in error.message
        assert secret not in error.log_detail
    assert url not in error.message


def test_method_must_be_get_or_post() -> None:
    with pytest.raises(BadRequest, match='GET or POST, not "PUT"'):
        validate(SIGNED.url, "PUT")


def test_timestamp_window_edges_are_inclusive() -> None:
    assert validate(build(Timestamp="2025-01-15T08:15:00Z")).timestamp < NOW
    assert validate(build(Timestamp="2025-01-15T08:45:00Z")).timestamp > NOW


def test_hop_by_hop_headers_are_dropped_and_the_rest_kept() -> None:
    headers = [
        ("Host", "evil.com"),
        ("Content-Length", "100"),
        ("Transfer-Encoding", "chunked"),
        ("Connection", "close"),
        ("Keep-Alive", "timeout=5"),
        ("Proxy-Authorization", "Basic x"),
        ("proxy-connection", "keep-alive"),
        ("TE", "trailers"),
        ("Trailer", "X"),
        ("Upgrade", "h2c"),
        ("Accept-Encoding", "gzip"),
        ("Expect", "100-continue"),
        ("x-acs-action", "GetCallerIdentity"),
        ("User-Agent", "  client/1.0 "),
        ("X-Multi", "1"),
        ("X-Multi", "2"),
    ]
    req = validate(SIGNED.url, headers=headers)
    assert req.headers == [
        ("x-acs-action", "GetCallerIdentity"),
        ("User-Agent", "client/1.0"),
        ("X-Multi", "1"),
        ("X-Multi", "2"),
    ]


def test_header_injection_is_refused() -> None:
    with pytest.raises(BadRequest, match="control or non-ASCII"):
        validate(SIGNED.url, headers={"X-A": "1\r\nHost: evil.com"})
    with pytest.raises(BadRequest, match="invalid header name"):
        validate(SIGNED.url, headers={"X-A\r\nHost": "evil.com"})


def test_repr_hides_the_signature_and_token() -> None:
    text = repr(validate(SIGNED.url))
    for secret in SECRETS:
        assert secret not in text
    assert "STS.KeyId0001" in text


def test_region_id_agrees_with_the_host_in_any_case() -> None:
    # The regional host decides the region; RegionId must agree, in any case.
    assert validate(build(RegionId="CN-HANGZHOU")).region == "cn-hangzhou"
    assert validate(build(prefix="https://sts.us-east-1.aliyuncs.com/?", RegionId=None)).region == (
        "us-east-1"
    )


def test_a_later_now_makes_the_same_request_stale() -> None:
    later = NOW + timedelta(seconds=901)
    with pytest.raises(BadRequest, match="old"):
        validate(SIGNED.url, now=later)
