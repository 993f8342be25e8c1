"""Decoding the login payload: every header shape Vault accepts, and every refusal."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from core.framework.errors import BadRequest
from plugins.alicloud.payload import (
    decode_identity_request_headers,
    decode_identity_request_url,
    url_from_signed_params,
)

from .test_signer import V1_URL, V1_URL_B64, VECTORS

# vault-alicloud.md §5.2 V1 headers, base64 of Go's json.Marshal(http.Header).
V1_HEADERS_B64 = (
    "eyJBY2NlcHQtRW5jb2RpbmciOlsiaWRlbnRpdHkiXSwiQ29udGVudC1UeXBlIjpbImFwcGxpY2F0aW9uL3gtd3d3LWZv"
    "cm0tdXJsZW5jb2RlZCJdLCJVc2VyLUFnZW50IjpbIkFsaWJhYmFDbG91ZCAobGludXg7IGFtZDY0KSBHb2xhbmcvMS4y"
    "NS4xIENvcmUvMS42My4yMiJdLCJ4LWFjcy1hY3Rpb24iOlsiR2V0Q2FsbGVySWRlbnRpdHkiXSwieC1hY3MtY3JlZGVu"
    "dGlhbHMtcHJvdmlkZXIiOlsic3RhdGljX2FrIl0sIngtYWNzLXZlcnNpb24iOlsiMjAxNS0wNC0wMSJdLCJ4LXNkay1j"
    "bGllbnQiOlsiZ29sYW5nLzEuMC4wIl0sIngtc2RrLWNvcmUtdmVyc2lvbiI6WyIxLjYzLjIyIl0sIngtc2RrLWludm9r"
    "ZS10eXBlIjpbIm5vcm1hbCJdfQ=="
)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def refused(fn: Any, value: object, message: str) -> None:
    with pytest.raises(BadRequest) as caught:
        fn(value)
    assert caught.value.status == 400
    assert message in caught.value.message


# --- identity_request_url ---------------------------------------------------------------


def test_url_vault_v1() -> None:
    assert decode_identity_request_url(V1_URL_B64) == V1_URL


def test_url_line_breaks_in_base64_are_ignored() -> None:
    wrapped = "\r\n".join(V1_URL_B64[i : i + 76] for i in range(0, len(V1_URL_B64), 76))
    assert decode_identity_request_url(wrapped + "\n") == V1_URL


@pytest.mark.parametrize("value", [None, ""])
def test_url_missing(value: object) -> None:
    refused(decode_identity_request_url, value, "missing identity_request_url")


@pytest.mark.parametrize(
    "value",
    [
        V1_URL,  # a raw URL is not accepted, as in Vault
        V1_URL_B64.rstrip("="),  # padding is required
        base64.urlsafe_b64encode(b"https://x/?a=\xfb\xff").decode(),  # URL-safe alphabet
        V1_URL_B64[:20] + " " + V1_URL_B64[20:],  # stray characters other than CR/LF
        "@@@@",
    ],
)
def test_url_not_base64(value: str) -> None:
    refused(decode_identity_request_url, value, "identity_request_url is not valid base64")


def test_url_other_refusals() -> None:
    refused(decode_identity_request_url, 12, "identity_request_url must be a base64 string")
    refused(decode_identity_request_url, b64("https://x/?é"), "does not decode to an ASCII URL")
    refused(decode_identity_request_url, b64("x" * 20000), "identity_request_url is too long")


# --- identity_request_headers -----------------------------------------------------------


def test_headers_vault_v1_base64_of_go_header_json() -> None:
    headers = decode_identity_request_headers(V1_HEADERS_B64)
    assert ("User-Agent", "AlibabaCloud (linux; amd64) Golang/1.25.1 Core/1.63.22") in headers
    assert ("x-acs-action", "GetCallerIdentity") in headers
    assert len(headers) == 9


def test_headers_spec_minimal_example() -> None:
    assert decode_identity_request_headers("eyJYLVRlc3QiOlsiMSJdfQ==") == [("X-Test", "1")]


def test_headers_json_object_with_strings_numbers_and_lists() -> None:
    value = {"A": "x", "B": 7, "C": 1.5, "D": ["one", 2, "three"], "E": []}
    assert decode_identity_request_headers(value) == [
        ("A", "x"),
        ("B", "7"),
        ("C", "1.5"),
        ("D", "one"),
        ("D", "2"),
        ("D", "three"),
    ]


def test_headers_string_forms_keep_number_literals() -> None:
    document = '{"A": "x", "N": 1.50, "E": 1e3, "L": ["v", -2]}'
    expected = [("A", "x"), ("N", "1.50"), ("E", "1e3"), ("L", "v"), ("L", "-2")]
    assert decode_identity_request_headers(document) == expected  # raw JSON string
    assert decode_identity_request_headers(b64(document)) == expected  # base64 of it


def test_headers_key_value_lines() -> None:
    lines = ["X-Time: 12:00", "Content-Type:application/x-www-form-urlencoded", "Empty:"]
    assert decode_identity_request_headers(lines) == [
        ("X-Time", " 12:00"),  # split at the first colon; the value is not trimmed
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Empty", ""),
    ]


@pytest.mark.parametrize("value", [None, "", {}, [], {"A": []}, "{}", b64("{}")])
def test_headers_missing(value: object) -> None:
    refused(decode_identity_request_headers, value, "missing identity_request_headers")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (42, "identity_request_headers is not in an expected format"),
        (True, "identity_request_headers is not in an expected format"),
        ({"A": True}, 'header "A" is not a string or number'),
        ({"A": None}, 'header "A" is not a string or number'),
        ({"A": {"nested": "x"}}, 'header "A" is not a string or number'),
        ({"A": ["ok", ["nested"]]}, 'header "A" is not a string or number'),
        ('{"A": true}', 'header "A" is not a string or number'),
        ('{"A": null}', 'header "A" is not a string or number'),
        ('{"A": [["x"]]}', 'header "A" is not a string or number'),
        ("aGVsbG8=", "is not a JSON object or base64 of one"),  # base64 "hello": no fallback
        (b64('["A:1"]'), "is not a JSON object or base64 of one"),
        ("not json at all", "is not a JSON object or base64 of one"),
        (["no-colon"], '"Key:Value" strings'),
        ([":value"], '"Key:Value" strings'),
        ([1], '"Key:Value" strings'),
        ({"Bad Name": "x"}, 'invalid header name "Bad Name"'),
        ({"Bad:Name": "x"}, "invalid header name"),
        ({"": "x"}, "invalid header name"),
        ({"A": "é"}, "control or non-ASCII"),
        ({f"H{i}": "x" for i in range(65)}, "more than 64 headers"),
    ],
)
def test_headers_refusals(value: object, message: str) -> None:
    refused(decode_identity_request_headers, value, message)


@pytest.mark.parametrize("bad", ["\r", "\n", "\x00", "\r\nX-Injected: 1"])
def test_headers_refuse_cr_lf_nul_in_every_shape(bad: str) -> None:
    document = json.dumps({"A": "x" + bad})  # JSON escapes them: the decoded value has them
    for value in (
        {"A": f"x{bad}"},
        {"A": [f"x{bad}"]},
        ["A:x" + bad],
        document,
        b64(document),
    ):
        refused(decode_identity_request_headers, value, "contains control or non-ASCII")
    refused(decode_identity_request_headers, {f"A{bad}": "x"}, "invalid header name")


# --- url_from_signed_params -------------------------------------------------------------

E = VECTORS["E_infisical_shape_GET"]


def e_params(**changes: Any) -> dict[str, Any]:
    params: dict[str, Any] = {**E["signed_params"], "Signature": E["signature"], "role": "dev"}
    params.update(changes)
    return {k: v for k, v in params.items() if v is not None}


def test_signed_params_rebuild_the_global_url() -> None:
    url = url_from_signed_params(e_params())
    assert url.startswith("https://sts.aliyuncs.com/?")
    assert "role=" not in url  # only signed parameters reach STS
    assert "Signature=GtwxRXVEx6cRYaIgvi%2FeI%2BZFeow%3D" in url
    assert "Timestamp=2025-06-11T08%3A15%3A30.123Z" in url


def test_signed_params_region_and_token() -> None:
    url = url_from_signed_params(e_params(RegionId="cn-hangzhou", SecurityToken="a+b/c="))
    assert url.startswith("https://sts.cn-hangzhou.aliyuncs.com/?")
    assert "SecurityToken=a%2Bb%2Fc%3D" in url
    assert url_from_signed_params(e_params(RegionId="")).startswith("https://sts.aliyuncs.com/")


def test_signed_params_custom_host() -> None:
    url = url_from_signed_params(
        e_params(RegionId="cn-beijing"), region_host=lambda r: f"sts-vpc.{r}.aliyuncs.com"
    )
    assert url.startswith("https://sts-vpc.cn-beijing.aliyuncs.com/?")


def test_signed_params_missing_are_named() -> None:
    with pytest.raises(BadRequest) as caught:
        url_from_signed_params(e_params(Signature=None, SignatureNonce=""))
    assert caught.value.message == "missing signed parameters: Signature, SignatureNonce"


def test_signed_params_refusals() -> None:
    with pytest.raises(BadRequest, match="signed parameter Timestamp must be a string"):
        url_from_signed_params(e_params(Timestamp=12))
    with pytest.raises(BadRequest, match="is not a valid region"):
        url_from_signed_params(e_params(RegionId="evil.com/"))


def test_identity_request_headers_have_one_total_cap_in_every_form() -> None:
    """1 MB of headers used to be forwarded to STS in object and list form (only the string
    form was capped): every form now stops at MAX_HEADERS_BYTES in total."""
    import base64
    import json

    from core.framework.errors import BadRequest
    from plugins.alicloud.payload import MAX_HEADERS_BYTES, decode_identity_request_headers

    big = "v" * (MAX_HEADERS_BYTES // 4)
    as_object = {f"X-Pad-{i}": [big] for i in range(5)}
    forms: list[object] = [
        as_object,
        [f"X-Pad-{i}: {big}" for i in range(5)],
        json.dumps(as_object),
        base64.b64encode(json.dumps(as_object).encode()).decode(),
        {"X-One": "w" * (MAX_HEADERS_BYTES + 1)},
    ]
    for form in forms:
        with pytest.raises(BadRequest) as refused:
            decode_identity_request_headers(form)
        assert "too large" in refused.value.message or "too long" in refused.value.message
    fits = {"X-Pad": "v" * 100, "Host": "sts.cn-hangzhou.aliyuncs.com"}
    assert len(decode_identity_request_headers(fits)) == 2
