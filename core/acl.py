"""Authorization: the one place that decides whether a valid token may do an operation on a path.

Until ACL policies exist, the rule is: the root token may do anything; any other valid token may
use only its own self-service endpoints. Policies replace `Authorizer.check` and nothing else.
"""

from __future__ import annotations

from core.framework.errors import PolicyDenied
from core.framework.path import Operation
from core.tokens.store import TokenEntry

SELF_SERVICE_PATHS = frozenset(
    {
        "auth/token/lookup-self",
        "auth/token/renew-self",
        "auth/token/revoke-self",
    }
)


class Authorizer:
    async def check(self, entry: TokenEntry, path: str, operation: Operation) -> None:
        """Raise PolicyDenied (403) unless `entry` may perform `operation` on `path`."""
        if entry.is_root:
            return
        if path in SELF_SERVICE_PATHS:
            return
        raise PolicyDenied(log_detail=f"{operation.value} on {path} needs a root token")
