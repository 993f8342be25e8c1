"""The compiled ACL of a token: its policies merged into one lookup structure.

`ACL.compile` merges the rules of all the token's policies the way Vault's NewACL does: rules
with the same path string are combined (capabilities unioned, `deny` wins and clears the
rule's parameter constraints, parameter maps merged). Then exact paths go into a dict and the
rest into a segment trie (see trie.py), so a lookup costs a dict probe plus a walk along the
request path's segments, whatever the number of rules.

Decisions follow Vault's AllowOperation: an exact rule wins over any glob (for LIST the path
carries a trailing `/`, and an exact rule on the path without it also applies); otherwise the
most specific glob/`+` rule decides alone, with no fallback to a less specific one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from core.policy.builtin import ROOT
from core.policy.model import (
    CREATE,
    DELETE,
    DENY,
    LIST,
    OPERATIONS,
    PATCH,
    READ,
    ROOT_CAPABILITY,
    SUDO,
    UPDATE,
    PathRule,
    Policy,
)
from core.policy.params import ParamRules
from core.policy.trie import WildcardIndex

_BITS = {DENY: 1, CREATE: 2, READ: 4, UPDATE: 8, DELETE: 16, LIST: 32, SUDO: 64, PATCH: 128}
_DENY_BIT = _BITS[DENY]
_SUDO_BIT = _BITS[SUDO]
_OPERATION_BIT = {op: _BITS[op] for op in OPERATIONS}
# Vault only checks parameters on operations that carry them.
_PARAM_OPERATIONS = frozenset({READ, CREATE, UPDATE})


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer for one request. `reason` is for the server log, never for the client.

    `sudo` says whether the deciding rule grants sudo (Vault's RootPrivs): some handlers
    allow extra options only to such callers.
    """

    allowed: bool
    reason: str
    sudo: bool = False


@dataclass(frozen=True, slots=True)
class _Grant:
    """The merged rule for one path string."""

    path: str
    bits: int
    params: ParamRules


@dataclass(slots=True)
class _Merging:
    """Vault's ACLPermissions while policies are being merged."""

    bits: int
    allowed: dict[str, list[str]] | None
    denied: dict[str, list[str]] | None
    required: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, rule: PathRule) -> _Merging:
        return cls(
            bits=_bits(rule.capabilities),
            allowed=_copy(rule.allowed_parameters),
            denied=_copy(rule.denied_parameters),
            required=list(rule.required_parameters),
        )

    def merge(self, rule: PathRule) -> None:
        if self.bits & _DENY_BIT:
            return  # an existing deny is final
        bits = _bits(rule.capabilities)
        if bits & _DENY_BIT:
            self.bits, self.allowed, self.denied = _DENY_BIT, None, None
            return
        self.bits |= bits
        self.allowed = _merge_params(self.allowed, rule.allowed_parameters)
        self.denied = _merge_params(self.denied, rule.denied_parameters)
        for name in rule.required_parameters:
            if name not in self.required:
                self.required.append(name)

    def grant(self, path: str) -> _Grant:
        return _Grant(path, self.bits, ParamRules.build(self.allowed, self.denied, self.required))


class ACL:
    """Compiled policies. Immutable after `compile`; safe to share between requests."""

    __slots__ = ("_exact", "_root", "_wild")

    def __init__(
        self, *, root: bool, exact: dict[str, _Grant], wild: WildcardIndex[_Grant]
    ) -> None:
        self._root = root
        self._exact = exact
        self._wild = wild

    @classmethod
    def compile(cls, policies: Iterable[Policy]) -> ACL:
        root = False
        merged: dict[str, _Merging] = {}
        for policy in policies:
            if policy.name == ROOT:
                root = True
                continue
            for rule in policy.rules:
                existing = merged.get(rule.path)
                if existing is None:
                    merged[rule.path] = _Merging.of(rule)
                else:
                    existing.merge(rule)
        exact: dict[str, _Grant] = {}
        wild: WildcardIndex[_Grant] = WildcardIndex()
        for path, perms in merged.items():
            grant = perms.grant(path)
            if path.endswith("*") or _has_plus(path):
                wild.add(path, grant)
            else:
                exact[path] = grant
        return cls(root=root, exact=exact, wild=wild)

    @property
    def is_root(self) -> bool:
        return self._root

    @property
    def lookup_visits(self) -> int:
        """Trie nodes visited by all lookups so far (a debug counter for tests and benches)."""
        return self._wild.visits

    def capabilities(self, path: str) -> set[str]:
        """What sys/capabilities reports for `path`: {"root"} for root, {"deny"} when the
        deciding rule denies or grants nothing (or no rule matches)."""
        if self._root:
            return {ROOT_CAPABILITY}
        grant = self._exact.get(path)
        if grant is None:
            grant = self._wild.match(path)
        bits = grant.bits if grant is not None else 0
        if not bits or bits & _DENY_BIT:
            return {DENY}
        return {name for name, bit in _BITS.items() if bits & bit}

    def allowed(
        self,
        operation: str,
        path: str,
        params: Mapping[str, object] | None,
        *,
        needs_sudo: bool,
    ) -> Decision:
        """Whether `operation` on `path` (relative to /v1/, no leading `/`) is allowed.

        `params` are the request's data fields (body or query, never URL captures): the raw
        values, as Vault checks them, or decoded ones. Either way list values and
        comma-separated strings are checked element by element (see params.py). They are
        checked only for read/create/update, as Vault. `needs_sudo` marks Vault's
        sudo-protected (root) paths.
        """
        if operation not in _OPERATION_BIT:
            raise ValueError(f"unknown operation {operation!r}")
        if self._root:
            return Decision(True, "root policy", sudo=True)
        if operation == LIST and not path.endswith("/"):
            path += "/"  # as Vault: `role/*` grants LIST on `role`
        grant = self._exact.get(path)
        if grant is None and operation == LIST:
            grant = self._exact.get(path[:-1])
        if grant is None:
            grant = self._wild.match(path)
        if grant is None:
            return Decision(False, f'no policy rule matches "{path}"')
        rule = f'rule "{grant.path}"'
        if grant.bits & _DENY_BIT:
            return Decision(False, f"{rule} denies")
        sudo = bool(grant.bits & _SUDO_BIT)
        if not grant.bits & _OPERATION_BIT[operation]:
            return Decision(False, f'{rule} does not grant "{operation}"', sudo=sudo)
        if needs_sudo and not sudo:
            return Decision(False, f'{rule} does not grant "sudo"', sudo=sudo)
        if operation in _PARAM_OPERATIONS and not grant.params.empty:
            refusal = grant.params.refusal(params or {})
            if refusal is not None:
                return Decision(False, f"{rule}: {refusal}", sudo=sudo)
        return Decision(True, f"allowed by {rule}", sudo=sudo)


def _bits(capabilities: Iterable[str]) -> int:
    bits = 0
    for name in capabilities:
        bits |= _BITS[name]
    return bits


def _has_plus(path: str) -> bool:
    return "+" in path.split("/")


def _copy(params: Mapping[str, tuple[str, ...]] | None) -> dict[str, list[str]] | None:
    return None if params is None else {k: list(v) for k, v in params.items()}


def _merge_params(
    existing: dict[str, list[str]] | None, new: Mapping[str, tuple[str, ...]] | None
) -> dict[str, list[str]] | None:
    """Vault's merge: values of one key are concatenated, but an empty list (any value) wins."""
    if not new:
        return existing
    if existing is None:
        return _copy(new)
    for key, values in new.items():
        current = existing.get(key)
        if not values or (current is not None and not current):
            existing[key] = []
        else:
            existing[key] = [*values, *(current or [])]
    return existing
