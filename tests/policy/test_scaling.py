"""Lookup cost depends on the path, not on the number of rules (counted, never timed)."""

from __future__ import annotations

from core.policy import ACL, Policy, parse_policy


def many_rules(n: int) -> Policy:
    blocks = []
    for i in range(n // 4):
        blocks.append(f'path "secret/team{i}/*" {{ capabilities = ["read"] }}')
        blocks.append(f'path "kv/+/app{i}" {{ capabilities = ["read"] }}')
        blocks.append(f'path "kv/data{i}" {{ capabilities = ["read"] }}')
        # Fixed width, so small and large sets have the same partial lengths to probe.
        blocks.append(f'path "pre/x{i:05d}*" {{ capabilities = ["read"] }}')
    blocks.append('path "secret/+/shared/*" { capabilities = ["update"] }')
    return parse_policy("many", "\n".join(blocks))


PATHS = [
    "secret/team1/shared/x",
    "secret/team2/y",
    "kv/any/app2",
    "kv/data1",
    "pre/x00123tail",
    "nothing/here/at/all",
]


def visits(acl: ACL, path: str) -> int:
    before = acl.lookup_visits
    acl.allowed("read", path, None, needs_sudo=False)
    return acl.lookup_visits - before


def test_ten_thousand_rules_compile_and_decide() -> None:
    acl = ACL.compile([many_rules(10_000)])
    assert acl.capabilities("secret/team2499/x") == {"read"}
    assert acl.capabilities("secret/other/shared/x") == {"update"}
    # `secret/team7/*` has its first glob later (13) than `secret/+/shared/*` (7): it wins.
    assert acl.capabilities("secret/team7/shared/x") == {"read"}
    assert acl.capabilities("kv/q/app2499") == {"read"}
    assert acl.capabilities("kv/data2499") == {"read"}
    assert acl.capabilities("pre/x02499tail") == {"read"}
    assert acl.capabilities("kv/q/app2500") == {"deny"}


def test_lookup_touches_the_same_nodes_for_10_and_10000_rules() -> None:
    small = ACL.compile([many_rules(12)])
    large = ACL.compile([many_rules(10_000)])
    for path in PATHS:
        assert visits(large, path) == visits(small, path), path


def test_lookup_visits_are_bounded_by_the_path() -> None:
    large = ACL.compile([many_rules(10_000)])
    for path in PATHS:
        parts = path.split("/")
        # At most a literal and a `+` branch per segment, plus one probe per character of a
        # segment for partial (`prefix*`) rules.
        bound = 2 * (len(parts) + 1) + sum(len(p) + 1 for p in parts)
        assert visits(large, path) <= bound, path


def test_many_prefix_rules_at_one_node_are_probed_by_segment_length() -> None:
    # 2,000 prefix rules of 2,000 different lengths all hang off one node; a lookup probes at
    # most one length per character of the request's segment. (More rules only make the HCL
    # text, quadratic in the rule count here, slower to parse; the bound is the same.)
    policy = parse_policy(
        "p", "\n".join(f'path "p/{"a" * k}*" {{ capabilities = ["read"] }}' for k in range(2_000))
    )
    acl = ACL.compile([policy])
    assert visits(acl, "p/aaab") == 2 + 5  # root and `p`, then lengths 0..4 ("" to "aaab")
    assert acl.capabilities("p/aaab") == {"read"}
