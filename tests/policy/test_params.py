"""Parameter constraints, checked on decoded values element by element (stricter than Vault)."""

from __future__ import annotations

import pytest

from core.policy import ACL, parse_policy
from core.policy.params import canonical, glob_match

ROLE = "auth/approle/role/r1"


def acl(*blocks: str) -> ACL:
    texts = [
        f'path "auth/approle/role/*" {{\n'
        f' capabilities = ["create", "read", "update", "list", "delete"]\n {b}\n}}'
        for b in blocks
    ]
    return ACL.compile([parse_policy(f"p{i}", t) for i, t in enumerate(texts)])


def ok(a: ACL, params: dict[str, object] | None, op: str = "update") -> bool:
    return a.allowed(op, ROLE, params, needs_sudo=False).allowed


DENY_ADMIN = 'denied_parameters = { "token_policies" = ["admin"] }'


@pytest.mark.parametrize(
    "value",
    [
        "admin",
        ["admin"],  # Vault compares the list with "admin" and lets it through
        ["dev", "admin"],
        "dev,admin",  # Vault compares the whole string and lets it through
        "dev, admin ",
        "ADMIN",  # a handler may lower-case it
        ["dev,Admin"],
    ],
)
def test_denied_value_is_refused_in_every_encoding(value: object) -> None:
    a = acl(DENY_ADMIN)
    decision = a.allowed("update", ROLE, {"token_policies": value}, needs_sudo=False)
    assert not decision.allowed
    assert 'parameter "token_policies" has a denied value' in decision.reason


@pytest.mark.parametrize("value", ["dev", ["dev", "ops"], "dev,ops", "administrator", [], None])
def test_other_values_pass_a_denial(value: object) -> None:
    assert ok(acl(DENY_ADMIN), {"token_policies": value})


def test_denied_glob_at_the_ends() -> None:
    a = acl('denied_parameters = { "token_policies" = ["root-*", "*-admin", "*secret*"] }')
    for bad in ["root-x", "x-admin", "a-secret-b", ["ok", "root-"], "ok,team-admin"]:
        assert not ok(a, {"token_policies": bad}), bad
    for good in ["rootx", "admin-x", "ok"]:
        assert ok(a, {"token_policies": good}), good


def test_denied_star_value_and_empty_list_deny_any_value() -> None:
    for block in [
        'denied_parameters = { "token_ttl" = ["*"] }',
        'denied_parameters = { "token_ttl" = [] }',
    ]:
        a = acl(block)
        assert not ok(a, {"token_ttl": "1h"})
        assert not ok(a, {"token_ttl": 60})
        assert ok(a, {"token_max_ttl": "1h"})


def test_denied_star_key_denies_every_parameter_but_not_an_empty_request() -> None:
    a = acl('denied_parameters = { "*" = [] }')
    assert not ok(a, {"anything": "x"})
    assert ok(a, {})
    assert ok(a, None)


def test_denial_compares_canonical_text() -> None:
    a = acl('denied_parameters = { "token_num_uses" = [0], "bind_secret_id" = ["false"] }')
    cases: list[dict[str, object]] = [
        {"token_num_uses": 0},
        {"token_num_uses": "0"},
        {"token_num_uses": 0.0},
        {"bind_secret_id": False},
    ]
    for bad in cases:
        assert not ok(a, bad), bad
    assert ok(a, {"token_num_uses": 5, "bind_secret_id": True})


def test_parameter_names_are_case_insensitive() -> None:
    a = acl('denied_parameters = { "Token_Policies" = ["admin"] }')
    assert not ok(a, {"TOKEN_POLICIES": "admin"})


def test_allowed_parameters_limit_names() -> None:
    a = acl('allowed_parameters = { "token_ttl" = [] }')
    assert ok(a, {"token_ttl": "1h"})
    decision = a.allowed(
        "update", ROLE, {"token_ttl": "1h", "token_policies": "x"}, needs_sudo=False
    )
    assert not decision.allowed
    assert 'parameter "token_policies" is not allowed' in decision.reason


def test_allowed_star_key_allows_other_names() -> None:
    a = acl('allowed_parameters = { "*" = [], "token_policies" = ["dev"] }')
    assert ok(a, {"anything": 1, "token_policies": "dev"})
    assert not ok(a, {"anything": 1, "token_policies": "admin"})
    assert ok(acl('allowed_parameters = { "*" = [] }'), {"x": 1})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("dev", True),
        ("dev-team", True),
        (["dev", "dev-x"], True),
        ("dev,dev-x", True),
        ("dev, dev-x", True),
        (["dev", "admin"], False),  # every element must be allowed
        ("dev,admin", False),
        ("dev-x,admin", False),  # `dev-*` must not match across the comma
        ("admin", False),
        ("DEV", False),  # allowances are exact: a case change can only make it fail
        (",", False),
        ([], True),
    ],
)
def test_allowed_values_element_by_element(value: object, expected: bool) -> None:
    a = acl('allowed_parameters = { "token_policies" = ["dev", "dev-*"] }')
    assert ok(a, {"token_policies": value}) is expected


def test_an_allowed_value_containing_a_comma_matches_whole() -> None:
    a = acl('allowed_parameters = { "description" = ["a, b"] }')
    assert ok(a, {"description": "a, b"})
    assert not ok(a, {"description": "a"})


def test_allowed_star_value_means_any_value() -> None:
    assert ok(acl('allowed_parameters = { "token_ttl" = ["*"] }'), {"token_ttl": "whatever"})


def test_allowed_numbers_match_their_text() -> None:
    a = acl('allowed_parameters = { "token_num_uses" = [1, 2] }')
    assert ok(a, {"token_num_uses": 1})
    assert ok(a, {"token_num_uses": "2"})
    assert not ok(a, {"token_num_uses": 3})


def test_required_parameters() -> None:
    a = acl('required_parameters = ["token_ttl"]')
    assert ok(a, {"token_ttl": "1h"})
    decision = a.allowed("update", ROLE, {"other": 1}, needs_sudo=False)
    assert not decision.allowed
    assert 'required parameter "token_ttl" is missing' in decision.reason
    assert not ok(a, None)
    assert not ok(a, {"token_ttl": None})  # null counts as not sent


def test_constraints_apply_to_read_create_update_only() -> None:  # as Vault
    a = acl('required_parameters = ["x"]\n denied_parameters = { "*" = [] }')
    assert not ok(a, {"y": 1}, "create")
    assert not ok(a, {"y": 1}, "read")
    assert ok(a, {"y": 1}, "list")
    assert ok(a, {"y": 1}, "delete")


def test_null_values_are_ignored() -> None:
    a = acl('allowed_parameters = { "token_ttl" = [] }')
    assert ok(a, {"token_ttl": "1h", "token_policies": None})


def test_merging_concatenates_values() -> None:
    a = acl(
        'denied_parameters = { "token_policies" = ["admin"] }',
        'denied_parameters = { "token_policies" = ["root"] }',
    )
    assert not ok(a, {"token_policies": "admin"})
    assert not ok(a, {"token_policies": "root"})
    b = acl(
        'allowed_parameters = { "token_policies" = ["a"] }',
        'allowed_parameters = { "token_policies" = ["b"] }',
    )
    assert ok(b, {"token_policies": "a,b"})


def test_merging_empty_list_wins() -> None:
    allow_any = acl(
        'allowed_parameters = { "token_policies" = [] }',
        'allowed_parameters = { "token_policies" = ["a"] }',
    )
    assert ok(allow_any, {"token_policies": "zzz"})
    deny_any = acl(
        'denied_parameters = { "token_ttl" = ["1h"] }', 'denied_parameters = { "token_ttl" = [] }'
    )
    assert not ok(deny_any, {"token_ttl": "2h"})


def test_merging_an_unrestricted_rule_with_a_restricted_one_keeps_the_restriction() -> None:
    # Vault's merge: a policy without allowed_parameters does not lift another's allow-list.
    a = acl("", 'allowed_parameters = { "token_ttl" = [] }')
    assert not ok(a, {"token_policies": "x"})


def test_required_parameters_merge_as_a_union() -> None:
    a = acl('required_parameters = ["a"]', 'required_parameters = ["b", "a"]')
    assert not ok(a, {"a": 1})
    assert ok(a, {"a": 1, "b": 2})


def test_glob_match_is_vaults() -> None:
    assert glob_match("*", "anything")
    assert glob_match("a", "a") and not glob_match("a", "b")
    assert glob_match("ab*", "abc") and not glob_match("ab*", "xab")
    assert glob_match("*bc", "abc") and not glob_match("*bc", "bcd")
    assert glob_match("*b*", "abc") and not glob_match("*x*", "abc")
    assert glob_match("a*c", "a*c") and not glob_match("a*c", "abc")  # inner `*` is literal


def test_canonical() -> None:
    assert [canonical(v) for v in ["x", 1, 1.0, 1.5, True, False, {"b": 1, "a": 2}]] == [
        "x",
        "1",
        "1",
        "1.5",
        "true",
        "false",
        '{"a":2,"b":1}',
    ]
