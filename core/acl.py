"""Authorization: the one place that decides whether a valid token may do an operation on a path.

A token's policies are compiled into an ACL (cached per process, invalidated through storage
whenever any policy changes, so every server process applies a policy change at once). The
root policy may do anything.
"""

from __future__ import annotations

from collections.abc import Mapping

from core.framework.errors import PolicyDenied
from core.framework.path import Operation
from core.policy import ACL, Decision, PolicyStore
from core.tables import RequestTables
from core.tokens.store import TokenEntry

_ROOT_DECISION = Decision(allowed=True, reason="root policy", sudo=True)


class Authorizer:
    def __init__(self, policies: PolicyStore) -> None:
        self._policies = policies

    async def acl(self, entry: TokenEntry, tables: RequestTables | None = None) -> ACL:
        return await self._policies.compiled(entry.policies, tables)

    async def check(
        self,
        entry: TokenEntry,
        path: str,
        operation: Operation,
        params: Mapping[str, object] | None,
        *,
        needs_sudo: bool,
        tables: RequestTables | None = None,
    ) -> Decision:
        """Raise PolicyDenied (403) unless `entry` may perform `operation` on `path` with these
        request parameters; returns the decision (its `sudo` tells handlers about sudo).
        `tables`: what the request read at its start (its policy generation counter)."""
        if entry.is_root:
            return _ROOT_DECISION
        acl = await self.acl(entry, tables)
        decision = acl.allowed(operation.value, path, params, needs_sudo=needs_sudo)
        if not decision.allowed:
            raise PolicyDenied(log_detail=f"{operation.value} {path}: {decision.reason}")
        return decision
