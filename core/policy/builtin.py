"""The two policies every server has: `root` (virtual, all-powerful, immutable) and `default`.

`default` is attached to tokens unless they opt out (no_default_policy). Its text is Vault's
default policy cut down to the paths wardgate serves: the token self-service endpoints and
sys/capabilities-self. Vault's other entries (cubbyhole, leases, response wrapping,
sys/tools/hash, identity, OIDC, the UI's resultant-acl) name features wardgate does not have,
so granting them would only mislead. Operators may edit `default`; they cannot delete it.
"""

from __future__ import annotations

from core.policy.model import Policy

ROOT = "root"
DEFAULT = "default"

# Formatted like Vault's (leading newline, comment per block, four-space indent) so a diff
# against Vault's default shows only the removed paths.
DEFAULT_POLICY_TEXT = """
# Allow tokens to look up their own properties
path "auth/token/lookup-self" {
    capabilities = ["read"]
}

# Allow tokens to renew themselves
path "auth/token/renew-self" {
    capabilities = ["update"]
}

# Allow tokens to revoke themselves
path "auth/token/revoke-self" {
    capabilities = ["update"]
}

# Allow a token to look up its own capabilities on a path
path "sys/capabilities-self" {
    capabilities = ["update"]
}
"""

# The root policy has no rules: ACL.compile recognises it by name and grants everything.
ROOT_POLICY = Policy(name=ROOT, text="", rules=())
