"""ACL decisions: merging, deny, LIST, sudo, root, capabilities(), the default policy."""

from __future__ import annotations

import pytest

from core.policy import ACL, DEFAULT_POLICY_TEXT, Policy, PolicyError, parse_policy
from core.policy.builtin import ROOT_POLICY


def acl(*texts: str) -> ACL:
    return ACL.compile([parse_policy(f"p{i}", text) for i, text in enumerate(texts)])


def allowed(a: ACL, op: str, path: str, params: dict[str, object] | None = None) -> bool:
    return a.allowed(op, path, params, needs_sudo=False).allowed


def test_nothing_matches_means_denied() -> None:
    a = acl('path "a" { capabilities = ["read"] }')
    decision = a.allowed("read", "b", None, needs_sudo=False)
    assert not decision.allowed
    assert "no policy rule matches" in decision.reason
    assert a.capabilities("b") == {"deny"}


def test_no_policies_at_all() -> None:
    assert not allowed(ACL.compile([]), "read", "auth/token/lookup-self")


@pytest.mark.parametrize("op", ["read", "list", "create", "update", "delete"])
def test_each_capability_grants_its_operation_only(op: str) -> None:
    a = acl(f'path "x/*" {{ capabilities = ["{op}"] }}')
    for other in ["read", "list", "create", "update", "delete"]:
        assert allowed(a, other, "x/y") is (other == op)


def test_capabilities_union_across_policies() -> None:
    a = acl('path "x" { capabilities = ["read"] }', 'path "x" { capabilities = ["update"] }')
    assert a.capabilities("x") == {"read", "update"}


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_deny_overrides_in_either_order(order: tuple[int, int]) -> None:
    texts = [
        'path "x/*" { capabilities = ["read", "update", "sudo"] }',
        'path "x/*" { capabilities = ["deny"] }',
    ]
    a = acl(*(texts[i] for i in order))
    assert a.capabilities("x/y") == {"deny"}
    decision = a.allowed("read", "x/y", None, needs_sudo=False)
    assert not decision.allowed
    assert decision.reason == 'rule "x/*" denies'


def test_deny_in_repeated_block_of_one_policy_wins() -> None:
    a = acl('path "x" { capabilities = ["deny"] }\npath "x" { capabilities = ["read"] }')
    assert a.capabilities("x") == {"deny"}


def test_deny_on_a_specific_path_beats_a_broad_grant() -> None:
    a = acl(
        'path "secret/*" { capabilities = ["read"] }',
        'path "secret/admin" { capabilities = ["deny"] }',
    )
    assert allowed(a, "read", "secret/x")
    assert not allowed(a, "read", "secret/admin")


def test_an_exact_rule_with_no_capabilities_shadows_globs() -> None:  # as Vault
    a = acl('path "x/*" { capabilities = ["read"] }', 'path "x/y" { capabilities = [] }')
    assert not allowed(a, "read", "x/y")
    assert a.capabilities("x/y") == {"deny"}


def test_list_on_glob_grants_the_bare_path() -> None:  # transcript 165
    a = acl(
        'path "auth/approle/role/*" {'
        ' capabilities = ["create", "read", "update", "delete", "list"] }'
    )
    assert allowed(a, "list", "auth/approle/role")
    assert allowed(a, "list", "auth/approle/role/")
    assert not allowed(a, "read", "auth/approle/role")


def test_list_on_exact_path_without_slash() -> None:  # transcript 129/154
    a = acl('path "auth/approle/role" { capabilities = ["list"] }')
    assert allowed(a, "list", "auth/approle/role")
    assert not allowed(a, "read", "auth/approle/role")


def test_list_prefers_the_exact_rule_with_the_slash() -> None:
    a = acl('path "r/" { capabilities = ["list"] }', 'path "r" { capabilities = ["deny"] }')
    assert allowed(a, "list", "r")


def test_list_via_segment_wildcard() -> None:
    a = acl('path "auth/+/role/*" { capabilities = ["list"] }')
    assert allowed(a, "list", "auth/approle/role")


def test_sudo_required_on_root_paths() -> None:
    a = acl(
        'path "sys/auth/*" { capabilities = ["update"] }',
        'path "sys/mounts/*" { capabilities = ["update", "sudo"] }',
    )
    plain = a.allowed("update", "sys/auth/x", None, needs_sudo=True)
    assert not plain.allowed
    assert 'does not grant "sudo"' in plain.reason
    assert a.allowed("update", "sys/auth/x", None, needs_sudo=False).allowed
    with_sudo = a.allowed("update", "sys/mounts/x", None, needs_sudo=True)
    assert with_sudo.allowed and with_sudo.sudo


def test_sudo_alone_does_not_grant_an_operation() -> None:
    a = acl('path "x" { capabilities = ["sudo"] }')
    assert not a.allowed("read", "x", None, needs_sudo=True).allowed


def test_root_policy_grants_everything() -> None:
    a = ACL.compile([ROOT_POLICY])
    assert a.is_root
    assert a.capabilities("anything") == {"root"}
    decision = a.allowed("delete", "sys/auth/x", {"a": 1}, needs_sudo=True)
    assert decision.allowed and decision.sudo


def test_root_wins_over_denies() -> None:
    a = ACL.compile([parse_policy("d", 'path "*" { capabilities = ["deny"] }'), ROOT_POLICY])
    assert a.allowed("read", "x", None, needs_sudo=False).allowed


def test_root_is_recognised_by_name_and_text_cannot_produce_it() -> None:
    assert ACL.compile([Policy("root", "", ())]).is_root
    with pytest.raises(PolicyError, match='"root" is a reserved policy name'):
        parse_policy("Root", 'path "*" { capabilities = ["read"] }')


def test_capabilities_listing() -> None:
    a = acl('path "x" { capabilities = ["read", "list", "sudo", "patch"] }')
    assert a.capabilities("x") == {"read", "list", "sudo", "patch"}


def test_patch_is_accepted_but_grants_no_wardgate_operation() -> None:
    a = acl('path "x" { capabilities = ["patch"] }')
    assert not any(allowed(a, op, "x") for op in ["read", "list", "create", "update", "delete"])


def test_unknown_operation_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown operation"):
        acl().allowed("renew", "x", None, needs_sudo=False)


def test_default_policy_content() -> None:
    a = ACL.compile([parse_policy("default", DEFAULT_POLICY_TEXT)])
    assert allowed(a, "read", "auth/token/lookup-self")
    assert allowed(a, "update", "auth/token/renew-self")
    assert allowed(a, "update", "auth/token/revoke-self")
    assert allowed(a, "update", "sys/capabilities-self")
    assert not allowed(a, "update", "auth/token/create")
    assert not allowed(a, "read", "sys/auth")
    assert not allowed(a, "update", "auth/token/lookup")
    assert a.capabilities("auth/token/lookup-self") == {"read"}
    assert DEFAULT_POLICY_TEXT.startswith("\n# Allow tokens to look up their own properties\n")
    assert "cubbyhole" not in DEFAULT_POLICY_TEXT  # only paths wardgate has


def test_transcript_reader_and_admin() -> None:  # transcripts 153-168
    reader = parse_policy(
        "approle-reader",
        'path "auth/approle/role/*" { capabilities = ["read", "list"] }\n'
        'path "auth/approle/role" { capabilities = ["list"] }',
    )
    a = ACL.compile([reader])
    assert allowed(a, "read", "auth/approle/role/r1")
    assert allowed(a, "list", "auth/approle/role")
    assert not allowed(a, "create", "auth/approle/role/r9", {"token_ttl": "1h"})
    assert not allowed(a, "delete", "auth/approle/role/r1")
    assert not allowed(a, "read", "sys/mounts")
    assert not allowed(a, "read", "auth/token/lookup-self")
    assert not allowed(a, "read", "auth/approle/nope")
