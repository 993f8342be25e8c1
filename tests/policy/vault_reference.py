"""A literal port of Vault's rule selection (vault/acl.go) used as an oracle in tests.

It scans every rule on every lookup, exactly as Vault does (radix LongestPrefix for plain
prefix rules, a loop over all `+` rules, then the sort), so the trie can be checked against it.
"""

from __future__ import annotations

import functools


def vault_winner(rules: list[str], path: str) -> str | None:
    """The rule path (as written) Vault would apply to a non-LIST request on `path`."""
    exact = {r for r in rules if not r.endswith("*") and not _segment_wc(r)}
    if path in exact:
        return path
    prefixes = {r[:-1]: r for r in rules if r.endswith("*") and not _segment_wc(r)}
    segment_rules = [r for r in rules if _segment_wc(r)]

    # (firstWCOrGlob, isPrefix, wildcards, pattern, rule)
    candidates: list[tuple[int, bool, int, str, str]] = []
    longest = max((p for p in prefixes if path.startswith(p)), key=len, default=None)
    if longest is not None:
        candidates.append((len(longest), True, 0, longest, prefixes[longest]))
    path_parts = path.split("/")
    for full in segment_rules:
        first = full.index("+")
        is_prefix = full.endswith("*")
        pattern = full[:-1] if is_prefix else full
        split = pattern.split("/")
        if len(path_parts) < len(split):
            continue
        if not is_prefix and len(split) != len(path_parts):
            continue
        wildcards = 0
        for i, part in enumerate(split):
            if part == "+":
                wildcards += 1
            elif part == path_parts[i]:
                continue
            elif is_prefix and i == len(split) - 1 and path_parts[i].startswith(part):
                continue  # the last segment of a prefix rule may be partial
            else:
                break
        else:
            candidates.append((first, is_prefix, wildcards, pattern, full))
    if not candidates:
        return None

    def less(a: tuple[int, bool, int, str, str], b: tuple[int, bool, int, str, str]) -> int:
        # Go's `less(i, j)`: true when a has LOWER priority than b.
        if a[0] != b[0]:
            return -1 if a[0] < b[0] else 1
        if a[1] != b[1]:
            return -1 if a[1] else 1
        if a[2] != b[2]:
            return -1 if a[2] > b[2] else 1
        if len(a[3]) != len(b[3]):
            return -1 if len(a[3]) < len(b[3]) else 1
        if a[3] != b[3]:
            return -1 if a[3] < b[3] else 1
        return 0

    return sorted(candidates, key=functools.cmp_to_key(less))[-1][4]


def _segment_wc(path: str) -> bool:
    return path == "+" or "/+" in path or path.startswith("+/")
