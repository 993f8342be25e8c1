"""The parsed form of an ACL policy: what `parse_policy` produces and `ACL.compile` consumes.

Kept apart from the parser so the compiled ACL, the store and the sys endpoints can share these
types without importing pyhcl.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from core.framework.errors import BadRequest

# Vault's capability names. `patch` is accepted so policies copied from Vault still load; no
# wardgate operation needs it, so it grants nothing here.
DENY = "deny"
CREATE = "create"
READ = "read"
UPDATE = "update"
DELETE = "delete"
LIST = "list"
SUDO = "sudo"
PATCH = "patch"
# Not writable in a policy: what `capabilities()` reports for the root policy.
ROOT_CAPABILITY = "root"

CAPABILITIES = frozenset({DENY, CREATE, READ, UPDATE, DELETE, LIST, SUDO, PATCH})

# The request operations an ACL decides on (the values of core.framework.path.Operation).
OPERATIONS = frozenset({READ, LIST, CREATE, UPDATE, DELETE})


class PolicyError(BadRequest):
    """A policy (or policy name) the server refuses: 400 with a message naming the problem."""


@dataclass(frozen=True, slots=True)
class PathRule:
    """One `path "..." { ... }` block after validation.

    `path` is as written minus a leading `/` (it still ends in `*` for a prefix rule).
    Parameter names are lower-cased, as Vault does. Parameter values are kept as canonical
    text (see params.canonical), so `1`, `"1"` and `1.0` are one value. None for
    `allowed_parameters`/`denied_parameters` means the block did not set it.
    """

    path: str
    capabilities: frozenset[str]
    allowed_parameters: Mapping[str, tuple[str, ...]] | None = None
    denied_parameters: Mapping[str, tuple[str, ...]] | None = None
    required_parameters: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Policy:
    """A named policy. `text` is the document exactly as stored (what a read returns)."""

    name: str
    text: str
    rules: tuple[PathRule, ...]
