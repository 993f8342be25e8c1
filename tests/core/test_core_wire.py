"""The HTTP envelope, routing and verb rules, checked against the OpenBao 2.7.2 transcripts."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.conftest import backend_config

ENVELOPE_KEYS = [
    "request_id",
    "lease_id",
    "renewable",
    "lease_duration",
    "data",
    "wrap_info",
    "warnings",
    "auth",
]
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def multierror(message: str) -> dict[str, list[str]]:
    return {"errors": [f"1 error occurred:\n\t* {message}\n\n"]}


# -- envelope --------------------------------------------------------------------------------


async def test_envelope_key_order_and_headers(server: Any) -> None:
    resp = await server.call("GET", "/v1/auth/token/lookup-self")
    assert resp.status_code == 200
    assert resp.headers["cache-control"] == "no-store"
    assert resp.headers["content-type"] == "application/json"
    assert resp.content.endswith(b"}\n")
    assert not resp.content.endswith(b"\n\n")
    body = resp.json()
    assert list(body) == ENVELOPE_KEYS
    assert UUID.match(body["request_id"])
    assert body["lease_id"] == ""
    assert body["renewable"] is False
    assert body["lease_duration"] == 0
    assert body["wrap_info"] is None
    assert body["warnings"] is None
    assert body["auth"] is None
    # Compact JSON, as Vault writes it.
    assert b'","lease_id":"",' in resp.content


async def test_request_ids_differ(server: Any) -> None:
    first = (await server.call("GET", "/v1/auth/token/lookup-self")).json()
    second = (await server.call("GET", "/v1/auth/token/lookup-self")).json()
    assert first["request_id"] != second["request_id"]


async def test_auth_envelope_has_auth_block_after_warnings(server: Any) -> None:
    resp = await server.call("POST", "/v1/auth/token/create", json={"ttl": "1h", "bogus": 1})
    body = resp.json()
    assert list(body) == ENVELOPE_KEYS
    assert body["data"] is None
    assert body["warnings"] == ["Endpoint ignored these unrecognized parameters: [bogus]"]
    assert body["auth"]["lease_duration"] == 3600
    # The token's lease is in the auth block; the envelope's own lease fields stay empty.
    assert body["lease_duration"] == 0
    assert body["renewable"] is False


async def test_204_has_no_body_but_json_headers(server: Any) -> None:
    created = (await server.call("POST", "/v1/auth/token/create", json={"ttl": "1h"})).json()
    resp = await server.call(
        "POST", "/v1/auth/token/revoke", json={"token": created["auth"]["client_token"]}
    )
    assert resp.status_code == 204
    assert resp.content == b""
    assert resp.headers["content-type"] == "application/json"
    assert resp.headers["cache-control"] == "no-store"


async def test_error_body_shape(server: Any) -> None:
    resp = await server.call("GET", "/v1/auth/token/lookup-self", token="nope")
    assert resp.status_code == 403
    assert resp.content == b'{"errors":["permission denied"]}\n'
    assert resp.headers["cache-control"] == "no-store"
    assert resp.headers["content-type"] == "application/json"


# -- health ----------------------------------------------------------------------------------


async def test_health_is_a_flat_object_without_token(server: Any) -> None:
    resp = await server.call("GET", "/v1/sys/health", token=None)
    assert resp.status_code == 200
    body = resp.json()
    assert list(body) == [
        "initialized",
        "sealed",
        "standby",
        "replication_performance_mode",
        "replication_dr_mode",
        "server_time_utc",
        "version",
        "cluster_name",
        "cluster_id",
    ]
    assert body["initialized"] is True
    assert body["sealed"] is False
    assert body["standby"] is False
    assert UUID.match(body["cluster_id"])
    assert resp.content.endswith(b"}\n")


async def test_health_time_comes_from_the_injected_clock(server: Any) -> None:
    server.clock.advance(1000)
    body = (await server.call("GET", "/v1/sys/health", token=None)).json()
    assert body["server_time_utc"] == int(server.clock.now())


async def test_health_ignores_query_parameters(server: Any) -> None:
    resp = await server.call(
        "GET", "/v1/sys/health", token=None, params={"standbycode": "200", "sealedcode": "200"}
    )
    assert resp.status_code == 200
    assert "request_id" not in resp.json()


async def test_health_head_has_headers_and_no_body(server: Any) -> None:
    resp = await server.call("HEAD", "/v1/sys/health", token=None)
    assert resp.status_code == 200
    assert resp.content == b""
    assert resp.headers["content-type"] == "application/json"
    assert resp.headers["cache-control"] == "no-store"


async def test_other_verbs_on_health_are_a_bare_405(server: Any) -> None:
    for method in ("POST", "PUT", "DELETE"):
        resp = await server.call(method, "/v1/sys/health", token=None, json={})
        assert resp.status_code == 405, method
        assert resp.json() == {"errors": []}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_cluster_id_is_stable_across_restarts(
    server_factory: Any, tmp_path: Any, request: pytest.FixtureRequest, backend: str
) -> None:
    config = await backend_config(request, backend, tmp_path)
    async with server_factory(config) as srv:
        first = (await srv.call("GET", "/v1/sys/health", token=None)).json()["cluster_id"]
    async with server_factory(config) as srv:
        second = (await srv.call("GET", "/v1/sys/health", token=None)).json()["cluster_id"]
    assert first == second


# -- routing ---------------------------------------------------------------------------------


async def test_outside_v1_is_404_empty(server: Any) -> None:
    for path in ("/sys/health", "/v2/sys/health", "/"):
        resp = await server.call("GET", path, token=None)
        assert resp.status_code == 404, path
        assert resp.json() == {"errors": []}


async def test_unknown_verb_is_405_empty(server: Any) -> None:
    resp = await server.call("FOO", "/v1/auth/token/lookup-self")
    assert resp.status_code == 405
    assert resp.json() == {"errors": []}


async def test_wrong_verb_on_framework_path_is_405_multierror(server: Any) -> None:
    resp = await server.call("DELETE", "/v1/auth/token/lookup-self")
    assert resp.status_code == 405
    assert resp.json() == multierror("unsupported operation")
    resp = await server.call("GET", "/v1/auth/token/create")
    assert resp.status_code == 405
    assert resp.json() == multierror("unsupported operation")


async def test_get_on_a_collection_is_405(server: Any) -> None:
    resp = await server.call("GET", "/v1/auth/token/accessors")
    assert resp.status_code == 405
    assert resp.json() == multierror("unsupported operation")


async def test_list_verb_and_get_list_true_are_the_same(server: Any) -> None:
    by_verb = await server.call("LIST", "/v1/auth/token/accessors")
    by_query = await server.call("GET", "/v1/auth/token/accessors", params={"list": "true"})
    with_slash = await server.call("LIST", "/v1/auth/token/accessors/")
    assert by_verb.status_code == by_query.status_code == with_slash.status_code == 200
    keys = by_verb.json()["data"]["keys"]
    assert by_query.json()["data"]["keys"] == keys
    assert with_slash.json()["data"]["keys"] == keys
    assert by_query.json()["warnings"] is None  # `list` is not reported as an unknown field


async def test_list_on_a_non_list_path_is_unsupported_path(server: Any) -> None:
    resp = await server.call("LIST", "/v1/auth/token/lookup-self")
    assert resp.status_code == 404
    assert resp.json() == multierror("unsupported path")
    resp = await server.call("GET", "/v1/auth/token/lookup-self", params={"list": "true"})
    assert resp.status_code == 404
    assert resp.json() == multierror("unsupported path")


async def test_unknown_mount_with_token_is_404_route_not_found(server: Any) -> None:
    resp = await server.call("GET", "/v1/foo/bar")
    assert resp.status_code == 404
    assert resp.json() == {"errors": ['no handler for route "foo/bar". route entry not found.']}
    resp = await server.call("GET", "/v1/auth/nomount/role/x")
    assert resp.json() == {
        "errors": ['no handler for route "auth/nomount/role/x". route entry not found.']
    }


async def test_unknown_mount_without_or_with_bad_token_is_403(server: Any) -> None:
    for token in (None, "bogus", "s.AAAAAAAAAAAAAAAAAAAAAAAA"):
        resp = await server.call("GET", "/v1/foo/bar", token=token)
        assert resp.status_code == 403
        assert resp.json() == {"errors": ["permission denied"]}
    resp = await server.call("POST", "/v1/auth/nomount/login", token=None, json={})
    assert resp.status_code == 403
    resp = await server.call("GET", "/v1/", token=None)
    assert resp.status_code == 403


async def test_unknown_path_inside_a_mount_is_unsupported_path(server: Any) -> None:
    for path in ("/v1/auth/token/nope", "/v1/sys/nope", "/v1/auth/token/lookup-self/"):
        resp = await server.call("GET", path)
        assert resp.status_code == 404, path
        assert resp.json() == multierror("unsupported path")


async def test_token_in_url_is_not_a_lookup(server: Any) -> None:
    resp = await server.call("GET", f"/v1/auth/token/lookup/{server.root_token}")
    assert resp.status_code == 404
    assert resp.json() == multierror("unsupported path")


async def test_sys_auth_has_no_list(server: Any) -> None:
    resp = await server.call("LIST", "/v1/sys/auth")
    assert resp.status_code == 404
    assert resp.json() == multierror("unsupported path")


async def test_help_comes_from_the_path_declaration(server: Any) -> None:
    resp = await server.call("GET", "/v1/auth/token/create", params={"help": "1"})
    assert resp.status_code == 200
    body = resp.json()
    # Vault's help answer: a flat object, `help` being what `bao path-help` prints.
    assert list(body) == ["help", "openapi", "see_also"]
    assert body["help"].startswith("Request:        auth/token/create\n")
    assert "Create a token" in body["help"]
    assert "    ttl (duration)" in body["help"]
    assert "    no_parent (boolean)" in body["help"]
    assert body["see_also"] is None
    spec = body["openapi"]["paths"]["/auth/token/create"]
    assert list(spec) == ["description", "post", "put"]  # both verbs write
    fields = spec["post"]["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert fields["ttl"]["type"] == "integer"
    assert fields["ttl"]["format"] == "duration"
    assert fields["policies"]["type"] == "array"
    assert fields["no_parent"] == {"type": "boolean", "default": False}


async def test_help_needs_a_token(server: Any) -> None:
    resp = await server.call("GET", "/v1/auth/token/create", token=None, params={"help": "1"})
    assert resp.status_code == 403


async def test_help_on_unknown_path_is_unsupported_path(server: Any) -> None:
    resp = await server.call("GET", "/v1/auth/token/nope", params={"help": "1"})
    assert resp.status_code == 404


async def test_bad_boolean_query_flag_is_400(server: Any) -> None:
    resp = await server.call("GET", "/v1/auth/token/accessors", params={"list": "maybe"})
    assert resp.status_code == 400
    assert "list" in resp.json()["errors"][0]


# -- non-canonical paths: refused, not redirected ---------------------------------------------


async def test_double_slash_is_400(server: Any) -> None:
    resp = await server.call("GET", "/v1/auth//token/lookup-self")
    assert resp.status_code == 400
    assert resp.json()["errors"][0].startswith("path ")


async def test_dot_segments_are_400(server: Any) -> None:
    for path in (
        "/v1/auth/token/../token/lookup-self",
        "/v1/auth/token/./lookup-self",
        "/v1/auth/token/lookup-self/..",
    ):
        resp = await server.raw("GET", path)
        assert resp.status == 400, path
        errors = json.loads(resp.body)["errors"]
        assert len(errors) == 1 and "not canonical" in errors[0]


async def test_double_slash_right_after_v1_is_400(server: Any) -> None:
    resp = await server.raw("GET", "/v1//sys/health", token=None)
    assert resp.status == 400
