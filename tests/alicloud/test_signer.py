"""Signature v1: every published/generated vector, and Vault's client request (§5.2 V1/V2)."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import msgspec
import pytest

from plugins.alicloud.signer import (
    canonical_query,
    parse_timestamp,
    percent_encode,
    sign,
    sign_get_caller_identity,
    string_to_sign,
)

# A copy of the published/generated vectors, kept in the repository so a bare clone tests alone.
DATA = Path(__file__).parents[1] / "data"
VECTORS: dict[str, dict[str, Any]] = json.loads((DATA / "alibaba-sts-vectors.json").read_text())

AK_SECRET = "FakeAccessKeySecret0123456789ab"
STS_SECRET = "FakeStsSecretAbCdEfGhIjKlMnOpQrStUvWxYz12"
SIGNED_VECTORS = [name for name, v in VECTORS.items() if "signed_params" in v]


def secret_for(params: dict[str, str]) -> str:
    return STS_SECRET if params["AccessKeyId"].startswith("STS.") else AK_SECRET


def test_the_vector_file_has_every_case() -> None:
    assert sorted(VECTORS) == sorted(
        [
            "A_newsdk_ramuser_POST",
            "B_newsdk_ststoken_POST",
            "C_oldsdk_ramuser_POST",
            "D_oldsdk_ststoken_GET",
            "E_infisical_shape_GET",
            "F_encoding_edgecase_GET",
            "G_doc_vector_check",
            "G2_old_doc_vector_TimeStamp_capital_S",
            "N1_vectorA_replayed_as_GET",
            "N2_vectorA_wrong_secret",
        ]
    )


@pytest.mark.parametrize("name", SIGNED_VECTORS)
def test_vector_string_to_sign_and_signature(name: str) -> None:
    v = VECTORS[name]
    params = v["signed_params"]
    assert string_to_sign(v["method"], params) == v["string_to_sign"]
    assert sign(v["method"], params, secret_for(params)) == v["signature"]


@pytest.mark.parametrize("name", [n for n in SIGNED_VECTORS if "url" in VECTORS[n]])
def test_vector_url_form_decodes_to_the_signed_params(name: str) -> None:
    # What a server sees: the form-decoded query is the signed set plus the Signature.
    v = VECTORS[name]
    query = dict(parse_qsl(urlsplit(v["url"]).query, keep_blank_values=True))
    assert query.pop("Signature") == v["signature"]
    assert query == v["signed_params"]
    assert sign(v["method"], query, secret_for(query)) == v["signature"]


def test_vector_f_encoding_edge_case_tail() -> None:
    v = VECTORS["F_encoding_edgecase_GET"]
    tail = "%26ZExtra%3Da%2520b%252Ac~d%252Be%252Ff%253Dg%2526h%253A%25C3%25A9"
    assert string_to_sign("GET", v["signed_params"]).endswith(tail)


DOC_PARAMS = {
    "AccessKeyId": "testid",
    "Action": "DescribeRegions",
    "Format": "XML",
    "SignatureMethod": "HMAC-SHA1",
    "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
    "SignatureVersion": "1.0",
    "Timestamp": "2016-02-23T12:46:24Z",
    "Version": "2014-05-26",
}


def test_vector_g_published_doc_example() -> None:
    v = VECTORS["G_doc_vector_check"]
    assert string_to_sign("GET", DOC_PARAMS) == v["string_to_sign"]
    assert sign("GET", DOC_PARAMS, "testsecret") == v["signature"] == v["sdk_signature"]


def test_vector_g2_old_doc_spelling() -> None:
    v = VECTORS["G2_old_doc_vector_TimeStamp_capital_S"]
    params = {k: val for k, val in DOC_PARAMS.items() if k != "Timestamp"}
    params["TimeStamp"] = DOC_PARAMS["Timestamp"]
    assert string_to_sign("GET", params) == v["string_to_sign"]
    assert sign("GET", params, "testsecret") == v["signature"]


def test_vector_n1_post_signature_does_not_verify_as_get() -> None:
    v = VECTORS["N1_vectorA_replayed_as_GET"]
    params = VECTORS["A_newsdk_ramuser_POST"]["signed_params"]
    assert string_to_sign("GET", params) == v["server_string_to_sign"]
    assert sign("GET", params, AK_SECRET) == v["server_signature"]
    assert v["server_signature"] != v["provided_signature"]
    assert sign("POST", params, AK_SECRET) == v["provided_signature"]


def test_vector_n2_wrong_secret() -> None:
    v = VECTORS["N2_vectorA_wrong_secret"]
    a = VECTORS["A_newsdk_ramuser_POST"]
    assert sign("POST", a["signed_params"], "WrongSecret") == v["client_signature"]
    assert v["client_signature"] != a["signature"]


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [
        ("AZaz09-_.~", "AZaz09-_.~"),
        ("a b", "a%20b"),
        ("*", "%2A"),
        ("+/=&:", "%2B%2F%3D%26%3A"),
        ("é", "%C3%A9"),
        ("%", "%25"),
    ],
)
def test_percent_encode(raw: str, encoded: str) -> None:
    assert percent_encode(raw) == encoded


def test_canonical_query_sorts_case_sensitively_and_skips_signature() -> None:
    params = {"b": "1", "B": "2", "a": "x y", "Signature": "zzz"}
    assert canonical_query(params) == "B=2&a=x%20y&b=1"


def test_method_is_upper_cased_in_string_to_sign() -> None:
    assert string_to_sign("get", {"A": "1"}) == "GET&%2F&A%3D1"


# vault-alicloud.md §5.2
V_TIME = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
V_NONCE = "0123456789abcdef0123456789abcdef"
V1_STS = (
    "POST&%2F&AccessKeyId%3Dtestid%26Action%3DGetCallerIdentity%26Format%3DJSON%26RegionId%3D"
    "cn-hangzhou%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D0123456789abcdef0123456789abcdef"
    "%26SignatureType%3D%26SignatureVersion%3D1.0%26Timestamp%3D2024-01-02T03%253A04%253A05Z"
    "%26Version%3D2015-04-01"
)
V1_URL = (
    "https://sts.cn-hangzhou.aliyuncs.com/?AccessKeyId=testid&Action=GetCallerIdentity"
    "&Format=JSON&RegionId=cn-hangzhou&Signature=lTgiKTAMorwBzD%2F%2FFCqLZgBEEI8%3D"
    "&SignatureMethod=HMAC-SHA1&SignatureNonce=0123456789abcdef0123456789abcdef&SignatureType="
    "&SignatureVersion=1.0&Timestamp=2024-01-02T03%3A04%3A05Z&Version=2015-04-01"
)
V1_URL_B64 = (
    "aHR0cHM6Ly9zdHMuY24taGFuZ3pob3UuYWxpeXVuY3MuY29tLz9BY2Nlc3NLZXlJZD10ZXN0aWQmQWN0aW9uPUdldENh"
    "bGxlcklkZW50aXR5JkZvcm1hdD1KU09OJlJlZ2lvbklkPWNuLWhhbmd6aG91JlNpZ25hdHVyZT1sVGdpS1RBTW9yd0J6"
    "RCUyRiUyRkZDcUxaZ0JFRUk4JTNEJlNpZ25hdHVyZU1ldGhvZD1ITUFDLVNIQTEmU2lnbmF0dXJlTm9uY2U9MDEyMzQ1"
    "Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWYmU2lnbmF0dXJlVHlwZT0mU2lnbmF0dXJlVmVyc2lvbj0xLjAmVGltZXN0"
    "YW1wPTIwMjQtMDEtMDJUMDMlM0EwNCUzQTA1WiZWZXJzaW9uPTIwMTUtMDQtMDE="
)
V2_STS = (
    "POST&%2F&AccessKeyId%3DSTS.testid%26Action%3DGetCallerIdentity%26Format%3DJSON%26RegionId%3D"
    "us-east-1%26SecurityToken%3Dtok%252Ben%252F%253D%26SignatureMethod%3DHMAC-SHA1"
    "%26SignatureNonce%3D0123456789abcdef0123456789abcdef%26SignatureType%3D%26SignatureVersion"
    "%3D1.0%26Timestamp%3D2024-01-02T03%253A04%253A05Z%26Version%3D2015-04-01"
)
V2_URL = (
    "https://sts.us-east-1.aliyuncs.com/?AccessKeyId=STS.testid&Action=GetCallerIdentity"
    "&Format=JSON&RegionId=us-east-1&SecurityToken=tok%2Ben%2F%3D"
    "&Signature=wg5aSCndxLaZoDZMh8dBu%2BYCbBI%3D&SignatureMethod=HMAC-SHA1"
    "&SignatureNonce=0123456789abcdef0123456789abcdef&SignatureType=&SignatureVersion=1.0"
    "&Timestamp=2024-01-02T03%3A04%3A05Z&Version=2015-04-01"
)


def test_vault_v1_ak_credentials() -> None:
    signed = sign_get_caller_identity(
        "testid",
        "testsecret",
        region="cn-hangzhou",
        security_token=None,
        timestamp=V_TIME,
        nonce=V_NONCE,
    )
    assert string_to_sign("POST", signed.params) == V1_STS
    assert signed.params["Signature"] == "lTgiKTAMorwBzD//FCqLZgBEEI8="
    assert signed.url == V1_URL
    assert signed.method == "POST"
    assert signed.login_data()["identity_request_url"] == V1_URL_B64
    assert signed.headers["x-acs-credentials-provider"] == "static_ak"


def test_vault_v2_sts_credentials() -> None:
    signed = sign_get_caller_identity(
        "STS.testid",
        "testsecret",
        region="us-east-1",
        security_token="tok+en/=",
        timestamp=V_TIME,
        nonce=V_NONCE,
    )
    assert string_to_sign("POST", signed.params) == V2_STS
    assert signed.params["Signature"] == "wg5aSCndxLaZoDZMh8dBu+YCbBI="
    assert signed.url == V2_URL
    assert signed.headers["x-acs-credentials-provider"] == "static_sts"


def test_headers_are_vaults_with_a_wardgate_user_agent() -> None:
    signed = sign_get_caller_identity("k", "s", region="cn-hangzhou", security_token=None)
    assert signed.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert signed.headers["x-acs-action"] == "GetCallerIdentity"
    assert signed.headers["x-acs-version"] == "2015-04-01"
    assert signed.headers["Accept-Encoding"] == "identity"
    assert signed.headers["User-Agent"].startswith("wardgate/")


def test_login_data_headers_are_go_http_header_json() -> None:
    signed = sign_get_caller_identity("k", "s", region="cn-hangzhou", security_token=None)
    raw = base64.b64decode(signed.login_data()["identity_request_headers"], validate=True)
    decoded = msgspec.json.decode(raw)
    assert decoded == {name: [value] for name, value in signed.headers.items()}
    assert list(decoded) == sorted(decoded)  # byte order: upper-case names first
    assert b" " not in raw.split(b'"User-Agent"')[0]  # compact JSON


def test_global_and_custom_hosts_and_get() -> None:
    no_region = sign_get_caller_identity("k", "s", region=None, security_token=None, method="get")
    assert no_region.url.startswith("https://sts.aliyuncs.com/?")
    assert "RegionId" not in no_region.params
    assert no_region.method == "GET"
    # The signature is over GET, so it verifies as GET only.
    assert sign("GET", no_region.params, "s") == no_region.params["Signature"]
    vpc = sign_get_caller_identity(
        "k", "s", region="cn-hangzhou", security_token=None, host="sts-vpc.cn-hangzhou.aliyuncs.com"
    )
    assert vpc.url.startswith("https://sts-vpc.cn-hangzhou.aliyuncs.com/?")


def test_defaults_are_a_fresh_hex_nonce_and_the_current_time() -> None:
    first = sign_get_caller_identity("k", "s", region=None, security_token=None)
    second = sign_get_caller_identity("k", "s", region=None, security_token=None)
    assert re.fullmatch(r"[0-9a-f]{32}", first.params["SignatureNonce"])
    assert first.params["SignatureNonce"] != second.params["SignatureNonce"]
    stamp = parse_timestamp(first.params["Timestamp"])
    assert abs(datetime.now(UTC) - stamp) < timedelta(seconds=5)


def test_timestamp_is_converted_to_utc() -> None:
    plus8 = datetime(2024, 1, 2, 11, 4, 5, tzinfo=timezone(timedelta(hours=8)))
    signed = sign_get_caller_identity("k", "s", region=None, security_token=None, timestamp=plus8)
    assert signed.params["Timestamp"] == "2024-01-02T03:04:05Z"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"timestamp": datetime(2024, 1, 2)},  # naive: ambiguous
        {"region": "cn-hangzhou.evil.com"},
        {"region": "CN-HANGZHOU"},
        {"method": "PUT"},
    ],
)
def test_sign_get_caller_identity_refuses(kwargs: dict[str, Any]) -> None:
    args: dict[str, Any] = {"region": "cn-hangzhou", "security_token": None, **kwargs}
    with pytest.raises(ValueError):
        sign_get_caller_identity("k", "s", **args)


def test_parse_timestamp() -> None:
    assert parse_timestamp("2025-06-11T08:15:30.123Z") == datetime(
        2025, 6, 11, 8, 15, 30, 123000, tzinfo=UTC
    )
    assert parse_timestamp("2025-01-15T08:30:00Z") == datetime(2025, 1, 15, 8, 30, tzinfo=UTC)
    for bad in (
        "2025-01-15",
        "2025-01-15T08:30:00+08:00",
        "2025-01-15T08:30:00",
        "2025-13-01T00:00:00Z",
    ):
        with pytest.raises(ValueError):
            parse_timestamp(bad)
