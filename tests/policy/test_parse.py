"""parse_policy: the accepted forms (HCL, JSON, base64, deprecated `policy =`) and every refusal."""

from __future__ import annotations

import base64

import pytest

from core.framework.errors import BadRequest
from core.policy import PathRule, PolicyError, normalize_name, parse_policy

ADMIN = (
    'path "auth/approle/role/*" {\n'
    '  capabilities = ["create", "read", "update", "delete", "list"]\n}\n'
)
READER = (
    "# read-only on approle roles\n"
    'path "auth/approle/role/*" {\n  capabilities = ["read", "list"]\n}\n'
    'path "auth/approle/role" {\n  capabilities = ["list"]\n}\n'
)


def test_hcl_policy_keeps_text_and_rules() -> None:
    policy = parse_policy("approle-admin", ADMIN)
    assert policy.name == "approle-admin"
    assert policy.text == ADMIN
    assert policy.rules == (
        PathRule(
            path="auth/approle/role/*",
            capabilities=frozenset({"create", "read", "update", "delete", "list"}),
        ),
    )


def test_several_blocks_in_order() -> None:
    policy = parse_policy("reader", READER)
    assert [(r.path, sorted(r.capabilities)) for r in policy.rules] == [
        ("auth/approle/role/*", ["list", "read"]),
        ("auth/approle/role", ["list"]),
    ]


def test_json_form() -> None:  # transcript 140
    text = '{"path": {"auth/approle/role/*": {"capabilities": ["read"]}}}'
    policy = parse_policy("jsonpol", text)
    assert policy.text == text
    assert policy.rules == (PathRule("auth/approle/role/*", frozenset({"read"})),)


def test_json_form_with_a_list_of_path_objects() -> None:
    text = '{"path": [{"a/*": {"capabilities": ["read"]}}, {"b": {"capabilities": ["list"]}}]}'
    assert [r.path for r in parse_policy("j", text).rules] == ["a/*", "b"]


def test_base64_hcl_is_stored_decoded() -> None:  # transcript 138
    encoded = base64.b64encode(READER.encode()).decode()
    policy = parse_policy("b64", encoded)
    assert policy.text == READER
    assert len(policy.rules) == 2


def test_base64_json_and_line_wrapped_base64() -> None:
    text = '{"path": {"x": {"capabilities": ["read"]}}}'
    encoded = base64.b64encode(text.encode()).decode()
    wrapped = "\n".join(encoded[i : i + 20] for i in range(0, len(encoded), 20))
    assert parse_policy("j", encoded).text == text
    assert parse_policy("j", wrapped).text == text


@pytest.mark.parametrize(
    ("old", "capabilities"),
    [
        ("deny", {"deny"}),
        ("read", {"read", "list"}),
        ("write", {"create", "read", "update", "delete", "list"}),
        ("sudo", {"create", "read", "update", "delete", "list", "sudo"}),
    ],
)
def test_deprecated_policy_shorthand(old: str, capabilities: set[str]) -> None:
    policy = parse_policy("old", f'path "secret/*" {{ policy = "{old}" }}')
    assert policy.rules[0].capabilities == capabilities


def test_shorthand_adds_to_capabilities() -> None:
    policy = parse_policy("old", 'path "x" { policy = "read"\n capabilities = ["sudo"] }')
    assert policy.rules[0].capabilities == {"read", "list", "sudo"}


def test_deny_replaces_other_capabilities_and_parameters() -> None:
    text = 'path "x" { capabilities = ["read", "deny"]\n denied_parameters = { "a" = [] } }'
    assert parse_policy("d", text).rules == (PathRule("x", frozenset({"deny"})),)


def test_parameters_are_parsed_and_normalised() -> None:
    text = """
path "auth/approle/role/*" {
  capabilities = ["create", "update"]
  allowed_parameters = {
    "Token_TTL" = []
    "token_num_uses" = [1, 2]
  }
  denied_parameters = { "token_policies" = ["admin", "root-*"] }
  required_parameters = ["Token_TTL"]
}
"""
    rule = parse_policy("p", text).rules[0]
    assert rule.allowed_parameters == {"token_ttl": (), "token_num_uses": ("1", "2")}
    assert rule.denied_parameters == {"token_policies": ("admin", "root-*")}
    assert rule.required_parameters == ("token_ttl",)


def test_block_form_of_parameter_maps() -> None:
    rule = parse_policy("p", 'path "x" {\n allowed_parameters {\n  a = ["b"]\n }\n}').rules[0]
    assert rule.allowed_parameters == {"a": ("b",)}


def test_leading_slash_is_stripped() -> None:
    assert parse_policy("p", 'path "/secret/x" { capabilities = ["read"] }').rules[0].path == (
        "secret/x"
    )


def test_repeated_blocks_for_one_path_are_all_kept() -> None:
    # pyhcl alone would fold these into one dict and let the later block win; Vault keeps both
    # (and the ACL merges them with deny winning).
    text = 'path "x" { capabilities = ["deny"] }\npath "x" { capabilities = ["read"] }'
    assert [sorted(r.capabilities) for r in parse_policy("p", text).rules] == [["deny"], ["read"]]


def test_comment_only_policy_is_valid_and_grants_nothing() -> None:
    assert parse_policy("p", "# nothing yet\n").rules == ()


def test_top_level_name_key_is_tolerated() -> None:
    assert len(parse_policy("p", 'name = "p"\npath "x" { capabilities = ["read"] }').rules) == 1


def test_comment_key_in_a_block_is_tolerated() -> None:
    assert (
        parse_policy("p", 'path "x" { comment = "why"\n capabilities = [] }').rules[0].path == "x"
    )


def test_policy_error_is_a_400() -> None:
    assert issubclass(PolicyError, BadRequest)
    assert PolicyError("x").status == 400


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # transcript 135 (same position as Vault: At 1:28)
        (
            'path "x" { capabilities = [',
            "failed to parse policy: At 1:28: unexpected end of file",
        ),
        (
            'path "x" {\n  capabilities = ["read"\n}',
            "failed to parse policy: At 3:1: unexpected RIGHTBRACE",
        ),
        ('path "x" { capabilities = @ }', "failed to parse policy: At 1:27: Illegal character '@'"),
        ('{"path": ', "failed to parse policy: At 1:10: Expecting value"),
        # transcript 136 (Vault repeats the `path "x":` prefix; we say it once)
        (
            'path "x" { capabilities = ["fly"] }',
            'failed to parse policy: path "x": invalid capability "fly"',
        ),
        (
            'path "x" { capabilities = ["root"] }',
            'failed to parse policy: path "x": invalid capability "root"',
        ),
        (
            'path "x" { policy = "admin" }',
            "failed to parse policy: path \"x\": invalid policy 'admin'",
        ),
        ("foo = 1", 'failed to parse policy: invalid key "foo"'),
        (
            'path "x" { capabilty = ["read"] }',
            'failed to parse policy: path "x": invalid key "capabilty"',
        ),
        (
            'path "x" { capabilities = "read" }',
            'failed to parse policy: path "x": "capabilities" must be a list of strings',
        ),
        (
            'path "x" { capabilities = [1] }',
            'failed to parse policy: path "x": "capabilities" must be a list of strings',
        ),
        (
            'path "x" { allowed_parameters = ["a"] }',
            'failed to parse policy: path "x": "allowed_parameters" must be a map',
        ),
        (
            'path "x" { denied_parameters = { "a" = "b" } }',
            'failed to parse policy: path "x": "denied_parameters" value for "a" must be a list',
        ),
        (
            'path "x" {\n denied_parameters { a = ["x"] }\n denied_parameters { a = ["y"] }\n}',
            'failed to parse policy: path "x": "denied_parameters" is given more than once',
        ),
        (
            'path "x" { required_parameters = "a" }',
            'failed to parse policy: path "x": "required_parameters" must be a list of strings',
        ),
        ('path = "x"', 'failed to parse policy: "path" must be written path "<path>" { ... }'),
        ('path "x" "y" { capabilities = [] }', 'failed to parse policy: path "x": invalid key "y"'),
        ('path "x" { min_wrapping_ttl = "1h" }', '"min_wrapping_ttl" is not supported by wardgate'),
        ('path "a*b" {}', 'path "a*b": "*" is only allowed at the end of a path'),
        ('path "a/+b" {}', 'path "a/+b": "+" must be a whole path segment'),
        ('path "a+/b" {}', 'path "a+/b": "+" must be a whole path segment'),
        ('path "a/+*" {}', "invalid use of wildcards ('+*' is forbidden)"),
        ('path "/" {}', 'path "/": the path is empty'),
        (
            'path "identity/entity/id/{{identity.entity.id}}" {}',
            "identity templates are not supported by wardgate",
        ),
        ('{"path": {"x": {}, "x": {}}}', 'failed to parse policy: duplicate key "x" in JSON'),
        ("[1]", "failed to parse policy:"),
        ("", "'policy' parameter not supplied or empty"),  # transcript 137
        ("  \n ", "'policy' parameter not supplied or empty"),
        ("ICAg", "'policy' parameter not supplied or empty"),  # base64 of three spaces
    ],
)
def test_refusals_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy("bad", text)
    assert message in caught.value.message


def test_names_are_lower_cased() -> None:  # transcript 133
    assert parse_policy("Mixed-Case", ADMIN).name == "mixed-case"
    assert normalize_name("A.b_C-1") == "a.b_c-1"


@pytest.mark.parametrize("name", ["", "-x", ".x", "a/b", "a,b", "a b", "é", "x" * 129, "a\n"])
def test_invalid_names(name: str) -> None:
    with pytest.raises(PolicyError, match="invalid policy name"):
        normalize_name(name)
