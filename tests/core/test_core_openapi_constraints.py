"""The OpenAPI document's constraints are the ones the server enforces: for a few fields and
path parameters, read the bound from the document served at sys/internal/specs/openapi, send
a value just outside it (400 naming the field) and one just inside (not refused for it)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import pytest

from core.registry import default_registry
from plugins.alicloud.payload import REQUIRED_SIGNED_PARAMS
from tests.conftest import Server, start_server

# The second AliCloud login form: the signed query parameters themselves.
SIGNED = {name: "v" for name in REQUIRED_SIGNED_PARAMS}

ARN = {"arn": "acs:ram::1234567890123456:role/x"}
URL = base64.b64encode(b"https://sts.aliyuncs.com/?Action=GetCallerIdentity").decode()

# (document path, body field, the keyword whose bound is tested, other fields, what the 400 says)
BODY_FIELDS = [
    ("/auth/token/create", "num_uses", "minimum", {}, "number of uses cannot be negative"),
    ("/auth/token/create", "num_uses", "maximum", {}, 'field "num_uses"'),
    ("/auth/token/create", "ttl", "minimum", {}, 'field "ttl"'),
    ("/auth/token/create", "explicit_max_ttl", "maximum", {}, 'field "explicit_max_ttl"'),
    ("/auth/token/create", "type", "enum", {}, "invalid 'type' value"),
    ("/auth/approle/role/{role}", "token_num_uses", "minimum", {}, "'token_num_uses'"),
    ("/auth/approle/role/{role}", "token_ttl", "minimum", {}, 'field "token_ttl"'),
    ("/auth/approle/role/{role}", "token_ttl", "maximum", {}, 'field "token_ttl"'),
    ("/auth/token/roles/{name}", "token_num_uses", "maximum", {}, 'field "token_num_uses"'),
    ("/auth/token/roles/{name}", "token_num_uses", "minimum", {}, "'token_num_uses'"),
    ("/auth/alicloud/role/{role}", "token_num_uses", "minimum", ARN, "'token_num_uses'"),
    (
        "/auth/alicloud/login",
        "identity_request_url",
        "maxLength",
        {"role": "x", "identity_request_headers": {}},
        "identity_request_url is too long",
    ),
    ("/auth/alicloud/login", "RegionId", "pattern", {"role": "x", **SIGNED}, "not a valid region"),
    *(
        (
            "/auth/alicloud/login",
            "identity_request_headers",
            keyword,
            {"role": "x", "identity_request_url": URL},
            names,
        )
        for keyword, names in (
            ("maxItems", "identity_request_headers has more than"),
            ("maxProperties", "identity_request_headers has more than"),
            ("maxLength", "identity_request_headers is too long"),
        )
    ),
]
CAPTURES = [
    (
        "/sys/policies/acl/{name}",
        "name",
        {"policy": 'path "x" { capabilities = ["read"] }'},
        "invalid policy name",
    ),
    (
        "/sys/policy/{name}",
        "name",
        {"policy": 'path "x" { capabilities = ["read"] }'},
        "invalid policy name",
    ),
    ("/auth/approle/role/{role}", "role", {}, "invalid role name"),
    (
        "/auth/alicloud/role/{role}",
        "role",
        {"arn": "acs:ram::1234567890123456:role/x"},
        "invalid role name",
    ),
]


@pytest.fixture
async def srv() -> AsyncIterator[Server]:
    async with start_server(registry=default_registry(include_entry_points=False)) as server:
        for kind in ("alicloud", "approle"):
            response = await server.call("POST", f"/v1/sys/auth/{kind}", json={"type": kind})
            assert response.status_code == 204, response.text
        yield server


async def document(srv: Server) -> dict[str, Any]:
    response = await srv.call("GET", "/v1/sys/internal/specs/openapi")
    assert response.status_code == 200, response.text
    paths: dict[str, Any] = response.json()["paths"]
    return paths


def outside_and_inside(schema: dict[str, Any], keyword: str) -> tuple[Any, Any]:
    """A value just outside the schema's `keyword` bound and one just inside it."""
    bound = schema[keyword]
    if keyword == "minimum":
        return bound - 1, bound
    if keyword == "maximum":
        return bound + 1, bound
    if keyword == "enum":
        return "not-" + bound[0], bound[0]
    if keyword == "maxLength":
        return "a" * (bound + 1), "a" * bound
    if keyword == "maxItems":
        return [f"X-H{i}: v" for i in range(bound + 1)], [f"X-H{i}: v" for i in range(bound)]
    if keyword == "maxProperties":
        return {f"X-H{i}": "v" for i in range(bound + 1)}, {f"X-H{i}": "v" for i in range(bound)}
    if keyword == "pattern":
        return "not_valid!", "valid-1"
    raise AssertionError(f"no test value for {keyword}")


def concrete(path: str, capture: str = "x") -> str:
    return "/v1" + path.replace("{role}", capture).replace("{name}", capture)


def refusal(response: Any) -> str:
    return " ".join(response.json().get("errors", [])) if response.status_code == 400 else ""


@pytest.mark.parametrize(("path", "field", "keyword", "body", "names"), BODY_FIELDS)
async def test_a_body_field_just_outside_its_declared_bound_is_refused_naming_it(
    srv: Server, path: str, field: str, keyword: str, body: dict[str, Any], names: str
) -> None:
    schema = (await document(srv))[path]["post"]["requestBody"]["content"]["application/json"]
    declared = schema["schema"]["properties"][field]
    outside, inside = outside_and_inside(declared, keyword)
    url = concrete(path, "constraint-test")
    response = await srv.call("POST", url, json={**body, field: outside}, token=srv.root_token)
    assert response.status_code == 400, (declared, response.text)
    assert names in refusal(response), response.text
    again = await srv.call("POST", url, json={**body, field: inside}, token=srv.root_token)
    assert names not in refusal(again), (declared, again.text)


@pytest.mark.parametrize(("path", "capture", "body", "names"), CAPTURES)
async def test_a_path_parameter_outside_its_declared_rule_is_refused_naming_it(
    srv: Server, path: str, capture: str, body: dict[str, Any], names: str
) -> None:
    parameters = {p["name"]: p["schema"] for p in (await document(srv))[path]["parameters"]}
    declared = parameters[capture]
    assert {"pattern", "maxLength"} <= set(declared), declared
    longest = "a" * declared["maxLength"]
    for outside in ("a" * (declared["maxLength"] + 1), "bad!name", "-leading-dash"):
        response = await srv.call("POST", concrete(path, outside), json=body)
        assert response.status_code == 400, (outside, response.text)
        assert names in refusal(response), response.text
    for inside in (longest, "Mixed.Case_name-1"):
        response = await srv.call("POST", concrete(path, inside), json=body)
        assert response.status_code in (200, 204), (inside, response.text)
