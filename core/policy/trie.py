"""The index of non-exact policy paths (`prefix*` globs and `+` segment wildcards).

Vault keeps prefix rules in a radix tree and scans every `+` rule on every request, then
sorts the matches. Here both kinds live in one trie keyed by path segment, so a lookup walks
only the nodes that match the request path segment by segment: its cost grows with the
path's length (and with the number of `+` branches that also match it), never with the
number of rules.

Each match is ranked by Vault's precedence (acl.go, CheckAllowedFromNonExactPaths), computed
once per rule at insert time; the highest rank wins:
  1. the later the first wildcard (`+`) or glob (`*`) in the pattern, the better;
  2. a rule not ending in `*` beats one that does;
  3. fewer `+` segments is better;
  4. a longer pattern (without the trailing `*`) is better;
  5. the lexicographically larger pattern is better.
For prefix rules without `+`, rank 1 is the prefix length, so of several prefix rules the
longest wins, which is what Vault's radix-tree LongestPrefix returns.
"""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")

Rank = tuple[int, int, int, int, str]


def rank(path: str) -> Rank:
    """Vault's precedence key of a non-exact rule path (as written, `*` included)."""
    is_prefix = path.endswith("*")
    pattern = path[:-1] if is_prefix else path
    wildcards = pattern.split("/").count("+")
    first = path.index("+") if wildcards else len(pattern)
    return (first, 0 if is_prefix else 1, -wildcards, len(pattern), pattern)


class _Node(Generic[T]):
    __slots__ = ("children", "end", "partial_lengths", "partials", "plus")

    def __init__(self) -> None:
        self.children: dict[str, _Node[T]] = {}
        self.plus: _Node[T] | None = None  # the `+` child: any one segment
        # A rule without `*` whose segments end at this node: it needs the path to end here.
        self.end: tuple[Rank, T] | None = None
        # Prefix rules whose pattern's last (partial) segment starts at this node, keyed by that
        # partial segment: `a/b*` sits under node `a` with key "b"; `a/*` with key "".
        self.partials: dict[str, tuple[Rank, T]] = {}
        self.partial_lengths: tuple[int, ...] = ()


class WildcardIndex(Generic[T]):
    """Maps non-exact rule paths to values; `match` returns the value of the winning rule."""

    __slots__ = ("_root", "visits")

    def __init__(self) -> None:
        self._root: _Node[T] = _Node()
        # Nodes visited (and partial-segment probes made) by all lookups so far: a debug
        # counter, so tests can show that a lookup touches only what lies along its path.
        self.visits = 0

    def add(self, path: str, value: T) -> None:
        """Insert a rule path (`*` only at the end, `+` only as a whole segment); last add wins."""
        entry = (rank(path), value)
        is_prefix = path.endswith("*")
        segments = (path[:-1] if is_prefix else path).split("/")
        walk = segments[:-1] if is_prefix else segments
        node = self._root
        for segment in walk:
            if segment == "+":
                if node.plus is None:
                    node.plus = _Node()
                node = node.plus
            else:
                child = node.children.get(segment)
                if child is None:
                    child = node.children[segment] = _Node()
                node = child
        if is_prefix:
            node.partials[segments[-1]] = entry
            node.partial_lengths = tuple(sorted({len(key) for key in node.partials}))
        else:
            node.end = entry

    def match(self, path: str) -> T | None:
        parts = path.split("/")
        count = len(parts)
        best: tuple[Rank, T] | None = None
        stack: list[tuple[_Node[T], int]] = [(self._root, 0)]
        visits = 0
        while stack:
            node, depth = stack.pop()
            visits += 1
            if depth == count:
                if node.end is not None and (best is None or node.end[0] > best[0]):
                    best = node.end
                continue
            segment = parts[depth]
            if node.partial_lengths:
                # A prefix rule matches when its partial segment starts this path segment.
                # Probing each stored length keeps this independent of the number of rules.
                for length in node.partial_lengths:
                    if length > len(segment):
                        break
                    visits += 1  # a probe costs about what a node does: count it too
                    hit = node.partials.get(segment[:length])
                    if hit is not None and (best is None or hit[0] > best[0]):
                        best = hit
            child = node.children.get(segment)
            if child is not None:
                stack.append((child, depth + 1))
            if node.plus is not None:
                stack.append((node.plus, depth + 1))  # `+` matches any segment, even ""
        self.visits += visits
        return None if best is None else best[1]
