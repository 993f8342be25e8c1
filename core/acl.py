"""Authorization: the one place that decides whether a valid token may do an operation on a path.

Until ACL policies exist, the rule is: the root token may do anything; any other valid token may
use only its own self-service endpoints, and only through what Vault's `default` policy grants:
read on lookup-self, update on renew-self and revoke-self (a POST to lookup-self is refused, and
a token created without the default policy gets none of them, as in Vault). Policies replace
`Authorizer.check` and nothing else.
"""

from __future__ import annotations

from core.framework.errors import PolicyDenied
from core.framework.path import Operation
from core.tokens.store import TokenEntry

SELF_SERVICE: dict[str, frozenset[Operation]] = {
    "auth/token/lookup-self": frozenset({Operation.READ}),
    "auth/token/renew-self": frozenset({Operation.UPDATE}),
    "auth/token/revoke-self": frozenset({Operation.UPDATE}),
}


class Authorizer:
    async def check(self, entry: TokenEntry, path: str, operation: Operation) -> None:
        """Raise PolicyDenied (403) unless `entry` may perform `operation` on `path`."""
        if entry.is_root:
            return
        if "default" in entry.policies and operation in SELF_SERVICE.get(path, frozenset()):
            return
        raise PolicyDenied(log_detail=f"{operation.value} on {path} needs a root token")
