"""Which rule decides when several match: Vault's precedence, table-driven and against an oracle."""

from __future__ import annotations

import random

import pytest

from core.policy import ACL, parse_policy
from core.policy.trie import WildcardIndex

from .vault_reference import vault_winner

VAULT_DOC_RULES = ["secret/*", "secret/foo", "secret/+/bar", "secret/fo*"]


def _winner(rules: list[str], path: str) -> str | None:
    """The rule path that decides `path` in wardgate: exact dict first, then the trie."""
    exact = {r for r in rules if "*" not in r and "+" not in r.split("/")}
    if path in exact:
        return path
    index: WildcardIndex[str] = WildcardIndex()
    for rule in rules:
        if rule not in exact:
            index.add(rule, rule)
    return index.match(path)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("secret/foo", "secret/foo"),  # an exact rule beats every glob
        ("secret/food", "secret/fo*"),  # longer prefix
        ("secret/foo/bar", "secret/fo*"),  # the later first wildcard wins (9 > 7)
        ("secret/zap/bar", "secret/+/bar"),  # same first wildcard: no trailing `*` wins
        ("secret/zap/baz", "secret/*"),
        ("secret/", "secret/*"),
        ("secret", None),  # `secret/*` does not cover `secret`
        ("other/foo", None),
    ],
)
def test_vault_documented_rules(path: str, expected: str | None) -> None:
    assert _winner(VAULT_DOC_RULES, path) == expected
    assert vault_winner(VAULT_DOC_RULES, path) == expected


@pytest.mark.parametrize(
    ("rules", "path", "expected"),
    [
        # Vault docs: the first wildcard is in the same place and both end in `*`; fewer `+` wins.
        (["secret/*", "secret/+/+/foo/*"], "secret/a/b/foo/c", "secret/*"),
        # fewer `+` segments wins
        (["a/+/+/d", "a/+/c/+"], "a/b/c/d", "a/+/c/+"),
        # same wildcards and position: longer wins
        (["a/+/c*", "a/+/cd*"], "a/b/cde", "a/+/cd*"),
        # everything equal but the text: lexicographically larger wins
        (["a/+/x", "a/+/y"], "a/b/x", "a/+/x"),
        (["a/+/b*", "a/+/c*"], "a/z/bc", "a/+/b*"),
        (["+/b", "a/+"], "a/b", "a/+"),
        # the most specific rule decides alone, even when it grants nothing useful
        (["a/*", "a/b/*"], "a/b/c", "a/b/*"),
        # `+` matches one whole segment, including an empty one
        (["a/+"], "a/", "a/+"),
        (["a/+"], "a/b/c", None),
        (["a/+/*"], "a/b", None),
        (["a/+/*"], "a/b/", "a/+/*"),
        (["+"], "x", "+"),
        (["*"], "anything/at/all", "*"),
        (["*", "+/x"], "a/x", "+/x"),
    ],
)
def test_precedence_table(rules: list[str], path: str, expected: str | None) -> None:
    assert vault_winner(rules, path) == expected  # the table itself is Vault's behaviour
    assert _winner(rules, path) == expected


def test_trie_agrees_with_vault_on_random_rule_sets() -> None:
    rng = random.Random(20261122)
    segments = ["a", "b", "ab", "ba", "", "+"]
    checked = 0
    for _ in range(400):
        rules: set[str] = set()
        for _ in range(rng.randint(1, 12)):
            parts = [rng.choice(segments) for _ in range(rng.randint(1, 4))]
            rule = "/".join(parts)
            if rng.random() < 0.5:
                if parts[-1] == "+":
                    rule += "/"
                rule += rng.choice(["*", "a*", "b*"]) if rule.endswith("/") else "*"
            if rule and "+*" not in rule:
                rules.add(rule)
        rule_list = sorted(rules)
        for _ in range(25):
            path = "/".join(
                rng.choice(["a", "b", "ab", "ba", "abc", ""]) for _ in range(rng.randint(1, 5))
            )
            assert _winner(rule_list, path) == vault_winner(rule_list, path), (rule_list, path)
            checked += 1
    assert checked == 10_000


def test_the_acl_applies_the_winning_rule() -> None:
    text = """
path "secret/*"     { capabilities = ["read"] }
path "secret/foo"   { capabilities = ["update"] }
path "secret/+/bar" { capabilities = ["delete"] }
path "secret/fo*"   { capabilities = ["create"] }
"""
    acl = ACL.compile([parse_policy("p", text)])
    assert acl.capabilities("secret/foo") == {"update"}
    assert acl.capabilities("secret/foo/bar") == {"create"}
    assert acl.capabilities("secret/zap/bar") == {"delete"}
    assert acl.capabilities("secret/zap/baz") == {"read"}
    assert acl.capabilities("secret") == {"deny"}
    # No fallback: the winning rule alone decides, even if a less specific one would allow.
    assert not acl.allowed("read", "secret/foo/bar", None, needs_sudo=False).allowed
