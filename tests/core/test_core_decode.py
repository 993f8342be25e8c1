"""Request decoding: JSON/form bodies, limits, field conversion, durations, unknown fields."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from core.config import Config, ServerConfig, StorageConfig
from core.framework.decode import parse_body, parse_query, token_from_headers
from core.framework.errors import BadRequest
from core.framework.fields import format_duration, parse_comma_list, parse_duration

CREATE = "/v1/auth/token/create"


def error_of(resp: Any) -> str:
    errors = resp.json()["errors"]
    assert len(errors) == 1, errors
    return str(errors[0])


# -- durations (unit level: the table Vault's parser accepts) ---------------------------------


@pytest.mark.parametrize(
    ("given", "seconds"),
    [
        (3600, 3600),
        ("3600", 3600),
        ("1h30m", 5400),
        ("1.5h", 5400),
        ("1d", 86400),
        ("90s", 90),
        ("30m", 1800),
        ("500ms", 0),  # sub-second truncates
        ("", 0),
        (" 2h ", 7200),
        ("1h0m5s", 3605),
        (9223372036, 9223372036),  # Go's longest time.Duration, in whole seconds
        ("2562047h", 9223369200),
    ],
)
def test_parse_duration_accepts(given: Any, seconds: int) -> None:
    assert parse_duration(given) == seconds


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("abc", 'time: invalid duration "abc"'),
        ("1x", 'time: invalid duration "1x"'),
        ("1h-1m", 'time: invalid duration "1h-1m"'),
        (-5, "cannot provide negative value '-5'"),
        ("-5", "cannot provide negative value '-5'"),
        ("-1h", "cannot provide negative value '-3600'"),
        (7200.0, 'time: missing unit in duration "7200.0"'),
        (1.5, 'time: missing unit in duration "1.5"'),
        ("1.5", 'time: missing unit in duration "1.5"'),
        # Beyond Go's time.Duration (found probing past the fuzz run: stored, and read back
        # as a number no int64 client can hold).
        ("99999999999999999999h", 'time: invalid duration "99999999999999999999h"'),
        ("9223372036854775807s", 'time: invalid duration "9223372036854775807s"'),
        ("9223372037", 'time: invalid duration "9223372037"'),
        (2**63 - 1, "duration 9223372036854775807 is out of range (at most 9223372036 s)"),
    ],
)
def test_parse_duration_refuses(given: Any, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_duration(given)
    assert str(info.value) == message


@pytest.mark.parametrize("given", [True, None, [1], {"a": 1}])
def test_parse_duration_refuses_other_types(given: Any) -> None:
    with pytest.raises(ValueError):
        parse_duration(given)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (45, "45s"),
        (60, "1m"),
        (90, "1m30s"),
        (3600, "1h"),
        (5400, "1h30m"),
        (3605, "1h5s"),
        (360000, "100h"),
    ],
)
def test_format_duration_as_vault_prints_it(seconds: int, text: str) -> None:
    assert format_duration(seconds) == text


def test_comma_list() -> None:
    assert parse_comma_list(" a, b ,,c ") == ["a", "b", "c"]
    assert parse_comma_list(["a ", " b", ""]) == ["a", "b"]
    assert parse_comma_list([1, "x"]) == ["1", "x"]
    assert parse_comma_list(None) == []
    with pytest.raises(ValueError):
        parse_comma_list({"a": 1})
    with pytest.raises(ValueError):
        parse_comma_list([True])


# -- token headers (unit level) ----------------------------------------------------------------


def test_token_from_headers() -> None:
    assert token_from_headers({"x-vault-token": "a", "authorization": "Bearer b"}) == "a"
    assert token_from_headers({"authorization": "Bearer b"}) == "b"
    assert token_from_headers({"authorization": "bearer  b "}) == "b"
    assert token_from_headers({"x-vault-token": "", "authorization": "Bearer b"}) == "b"
    assert token_from_headers({"authorization": "Basic cm9vdDpyb290"}) == ""
    assert token_from_headers({"authorization": "Bearer"}) == ""
    assert token_from_headers({}) == ""


# -- bodies (unit level) ------------------------------------------------------------------------


def test_parse_body_shapes() -> None:
    assert parse_body(b"", "") == {}
    assert parse_body(b"  \n", "application/json") == {}
    assert parse_body(b"null", "") == {}
    assert parse_body(b'{"a":1,"a":2}', "") == {"a": 2}
    # A repeated form key is joined with commas, as Vault does.
    assert parse_body(b"a=1&b=x%20y&a=3", "application/x-www-form-urlencoded") == {
        "a": "1,3",
        "b": "x y",
    }
    # A JSON body wins even when the client calls it a form (as Vault does).
    assert parse_body(b'{"a":1}', "application/x-www-form-urlencoded") == {"a": 1}
    for bad in (b"[1,2]", b"42", b'"x"', b"true", b"{bad", b'{"a":1} x'):
        with pytest.raises(BadRequest) as info:
            parse_body(bad, "application/json")
        assert info.value.message.startswith("failed to decode JSON input: ")


def test_parse_query() -> None:
    pairs = [("a", "1"), ("list", "true"), ("help", "1"), ("b", "x"), ("a", "2"), ("a", "3")]
    assert parse_query(pairs) == {"a": ["1", "2", "3"], "b": "x"}


def test_complexity_limit_counts_keys_and_string_values() -> None:
    ok = {"p": [f"v{i}" for i in range(999)]}  # 1 key + 999 values = 1000
    assert parse_body(json.dumps(ok).encode(), "") == ok
    too_many = {"p": [f"v{i}" for i in range(1000)]}
    with pytest.raises(BadRequest) as info:
        parse_body(json.dumps(too_many).encode(), "")
    assert info.value.message == (
        "refused JSON input due to high complexity: exceeded maximum number of strings"
    )
    nested = {"a": {f"k{i}": {"x": 1} for i in range(501)}}  # 1 + 501 + 501 keys
    with pytest.raises(BadRequest):
        parse_body(json.dumps(nested).encode(), "")
    numbers = {"n": list(range(5000))}  # numbers are not strings
    assert parse_body(json.dumps(numbers).encode(), "") == numbers


# -- bodies over HTTP ---------------------------------------------------------------------------


async def test_malformed_json_is_400(server: Any) -> None:
    for body in (b"{bad json", b'{"ttl": ', b'{"ttl":"1h"} xyz'):
        resp = await server.call("POST", CREATE, content=body)
        assert resp.status_code == 400, body
        assert error_of(resp).startswith("failed to decode JSON input: ")


async def test_non_object_json_is_400(server: Any) -> None:
    for body in (b"[1,2,3]", b"42", b'"text"', b"true"):
        resp = await server.call("POST", CREATE, content=body)
        assert resp.status_code == 400, body
        assert error_of(resp).startswith("failed to decode JSON input: ")


@pytest.mark.parametrize("body", [b"", b"null", b"  "])
async def test_null_or_empty_body_is_no_data(server: Any, body: bytes) -> None:
    resp = await server.call("POST", CREATE, content=body)
    assert resp.status_code == 200
    auth = resp.json()["auth"]
    assert auth["policies"] == ["root"]
    assert auth["lease_duration"] == 0
    assert resp.json()["warnings"] is None


async def test_duplicate_keys_last_wins(server: Any) -> None:
    resp = await server.call("POST", CREATE, content=b'{"ttl":"1h","ttl":"2h"}')
    assert resp.json()["auth"]["lease_duration"] == 7200


async def test_json_with_text_plain_content_type(server: Any) -> None:
    resp = await server.call(
        "POST", CREATE, content=b'{"ttl":"1h"}', headers={"Content-Type": "text/plain"}
    )
    assert resp.json()["auth"]["lease_duration"] == 3600


async def test_form_encoded_body(server: Any) -> None:
    resp = await server.call(
        "POST",
        CREATE,
        content=b"ttl=1h&display_name=web&num_uses=3&no_parent=true",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert resp.status_code == 200, resp.text
    auth = resp.json()["auth"]
    assert auth["lease_duration"] == 3600
    assert auth["num_uses"] == 3
    assert auth["orphan"] is True
    lookup = await server.call(
        "POST", "/v1/auth/token/lookup", json={"token": auth["client_token"]}
    )
    assert lookup.json()["data"]["display_name"] == "token-web"


def nested(depth: int) -> bytes:
    return ('{"ttl":"1h","a":' + "[" * depth + "]" * depth + "}").encode()


async def test_nested_json_is_accepted(server: Any) -> None:
    resp = await server.call("POST", CREATE, content=nested(200))
    assert resp.status_code == 200
    assert resp.json()["warnings"] == ["Endpoint ignored these unrecognized parameters: [a]"]


async def test_too_deeply_nested_json_is_400_not_500(server: Any) -> None:
    # Vault takes up to 10000 levels; the decoder here stops at Python's recursion limit.
    resp = await server.call("POST", CREATE, content=nested(20000))
    assert resp.status_code == 400
    assert error_of(resp).startswith("failed to decode JSON input: ")


async def test_complexity_limit_over_http(server: Any) -> None:
    ok = {"policies": [f"p{i}" for i in range(999)], "ttl": 60}  # 2 keys + 999 values
    assert (await server.call("POST", CREATE, json=ok)).status_code == 400
    ok["policies"] = ok["policies"][:998]  # exactly 1000 strings
    resp = await server.call("POST", CREATE, json=ok)
    assert resp.status_code == 200
    assert len(resp.json()["auth"]["policies"]) == 999  # 998 + default


@pytest.fixture
async def small_server(server_factory: Any) -> AsyncIterator[Any]:
    config = Config(
        storage=StorageConfig(backend="memory"), server=ServerConfig(max_request_size=2048)
    )
    async with server_factory(config) as srv:
        yield srv


def padded(size: int) -> bytes:
    """A JSON object of exactly `size` bytes."""
    head = b'{"ttl":"1h","pad":"'
    return head + b"A" * (size - len(head) - 2) + b'"}'


async def test_body_over_the_limit_is_413(small_server: Any) -> None:
    resp = await small_server.call("POST", CREATE, content=padded(2049))
    assert resp.status_code == 413
    assert resp.json() == {"errors": ["http: request body too large"]}
    resp = await small_server.call("POST", CREATE, content=padded(2048))
    assert resp.status_code == 200
    assert resp.json()["auth"]["lease_duration"] == 3600


async def test_chunked_body_over_the_limit_is_413(small_server: Any) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b" " * 300

    resp = await small_server.client.post(
        CREATE, content=chunks(), headers={"X-Vault-Token": small_server.root_token}
    )
    assert resp.status_code == 413


async def test_oversized_body_without_token_is_403_unread(small_server: Any) -> None:
    # A path that needs a token: the token is checked before the body is read at all.
    resp = await small_server.call(
        "POST", "/v1/auth/nomount/login", token=None, content=b"x" * 5000
    )
    assert resp.status_code == 403


async def test_bad_content_length_is_400(small_server: Any) -> None:
    resp = await small_server.call("POST", CREATE, content=b"{}", headers={"Content-Length": "abc"})
    assert resp.status_code == 400


# -- field conversion ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ttl", "seconds"),
    [("1h30m", 5400), ("3600", 3600), (3600, 3600), ("1d", 86400), ("90s", 90), ("1.5h", 5400)],
)
async def test_duration_field_forms(server: Any, ttl: Any, seconds: int) -> None:
    resp = await server.call("POST", CREATE, json={"ttl": ttl})
    assert resp.status_code == 200
    assert resp.json()["auth"]["lease_duration"] == seconds


@pytest.mark.parametrize(
    ("ttl", "reason"),
    [
        ("abc", 'time: invalid duration "abc"'),
        (-5, "cannot provide negative value '-5'"),
        ("-5", "cannot provide negative value '-5'"),
        (7200.0, 'time: missing unit in duration "7200.0"'),
    ],
)
async def test_bad_duration_field_is_400(server: Any, ttl: Any, reason: str) -> None:
    resp = await server.call("POST", CREATE, json={"ttl": ttl})
    assert resp.status_code == 400
    assert error_of(resp) == f'error converting input for field "ttl": {reason}'


async def test_wrong_type_names_the_field(server: Any) -> None:
    resp = await server.call("POST", CREATE, json={"num_uses": "abc"})
    assert resp.status_code == 400
    assert error_of(resp).startswith('error converting input for field "num_uses": ')
    resp = await server.call("POST", CREATE, json={"meta": ["a"]})
    assert resp.status_code == 400
    assert error_of(resp).startswith('error converting input for field "meta": ')


async def test_weak_typing_of_numbers_and_booleans(server: Any) -> None:
    resp = await server.call(
        "POST", CREATE, json={"num_uses": "5", "no_parent": "true", "ttl": "60"}
    )
    assert resp.status_code == 200, resp.text
    auth = resp.json()["auth"]
    assert (auth["num_uses"], auth["orphan"], auth["lease_duration"]) == (5, True, 60)


async def test_unknown_fields_warning_is_sorted(server: Any) -> None:
    resp = await server.call("POST", CREATE, json={"ttl": "10m", "zeta": 1, "bogus": 1, "a": "x"})
    assert resp.status_code == 200
    assert resp.json()["warnings"] == [
        "Endpoint ignored these unrecognized parameters: [a bogus zeta]"
    ]


async def test_unknown_query_parameters_on_get_are_warned_about(server: Any) -> None:
    resp = await server.call("GET", "/v1/auth/token/lookup-self", params={"foo": "bar"})
    assert resp.status_code == 200
    assert resp.json()["warnings"] == ["Endpoint ignored these unrecognized parameters: [foo]"]


async def test_null_field_value_counts_as_not_given(server: Any) -> None:
    resp = await server.call("POST", CREATE, json={"ttl": None, "policies": None})
    assert resp.status_code == 200
    assert resp.json()["auth"]["policies"] == ["root"]
    assert resp.json()["warnings"] is None


async def test_delete_body_is_ignored(server: Any) -> None:
    resp = await server.call("DELETE", "/v1/sys/auth/never-existed", content=b"{not json")
    assert resp.status_code == 204
