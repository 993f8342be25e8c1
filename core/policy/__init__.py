"""ACL policies: parsing Vault's policy language, compiling policies into a fast lookup
structure, and storing them with a cache that every server process keeps coherent.

The request pipeline needs only `PolicyStore.compiled(names)` and `ACL.allowed(...)`; the
sys/policy endpoints use `PolicyStore` (get, put, delete, names) and sys/capabilities uses
`ACL.capabilities(path)`.
"""

from core.policy.acl import ACL, Decision
from core.policy.builtin import DEFAULT, DEFAULT_POLICY_TEXT, ROOT
from core.policy.model import PathRule, Policy, PolicyError
from core.policy.parse import normalize_name, parse_policy
from core.policy.store import PolicyRecord, PolicyStore

__all__ = [
    "ACL",
    "DEFAULT",
    "DEFAULT_POLICY_TEXT",
    "ROOT",
    "Decision",
    "PathRule",
    "Policy",
    "PolicyError",
    "PolicyRecord",
    "PolicyStore",
    "normalize_name",
    "parse_policy",
]
