"""Micro benchmark of ACL lookups: 10 rules vs 10,000 rules (not a test; prints figures).

    .venv/bin/python bench/policy_bench.py

A lookup should cost about the same with 10,000 rules as with 10: the compiled ACL keeps exact
paths in a dict and globs/`+` rules in a segment trie, so only the request path's length counts.
"""

from __future__ import annotations

import time

from core.policy import ACL, parse_policy

PATHS = [
    ("read", "secret/team3/app/config"),  # prefix rule
    ("read", "kv/any/app2"),  # `+` rule
    ("read", "kv/data1"),  # exact rule
    ("list", "secret/team3"),  # LIST: trailing slash
    ("update", "nothing/matches/here"),  # denied
]


def build(n: int) -> ACL:
    blocks = []
    for i in range(max(1, n // 3)):
        blocks.append(f'path "secret/team{i}/*" {{ capabilities = ["read", "list"] }}')
        blocks.append(f'path "kv/+/app{i}" {{ capabilities = ["read"] }}')
        blocks.append(f'path "kv/data{i}" {{ capabilities = ["read"] }}')
    return ACL.compile([parse_policy("bench", "\n".join(blocks[:n]))])


def lookups_per_second(acl: ACL, seconds: float = 1.0) -> float:
    done = 0
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        for op, path in PATHS:
            acl.allowed(op, path, None, needs_sudo=False)
        done += len(PATHS)
    return done / (time.perf_counter() - started)


def main() -> None:
    for n in (10, 10_000):
        started = time.perf_counter()
        acl = build(n)
        compile_ms = (time.perf_counter() - started) * 1000
        rate = lookups_per_second(acl)
        print(f"{n:>6} rules: compile+parse {compile_ms:8.1f} ms, {rate:>12,.0f} lookups/s")


if __name__ == "__main__":
    main()
