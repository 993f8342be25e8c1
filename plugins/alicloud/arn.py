"""RAM ARNs: the binding a role is configured with, the caller STS reports, and matching.

Grammar (vault-alicloud.md §3): `acs:ram:<region>:<account>:<resource>`, five colon-separated
fields, region ignored (RAM ARNs leave it empty). Resources:

- `role/<name>`                    a role binding (what a wardgate role is configured with)
- `user/<name>`                    a RAM user (binding, or a caller)
- `assumed-role/<role>/<session>`  a caller holding STS credentials for a role
- `root`                           the account itself (a caller; never bindable)

Unlike Vault, errors name the offending input instead of printing Go's `<nil>`, the account
must be digits (and, in a role binding, an account id's 16 digits, so a typo cannot produce a
role nobody can ever log in to), and extra path segments are refused rather than silently
dropped.

Role names are compared case-insensitively, user names exactly:
- RAM keeps role names unique regardless of case, and STS has been seen to report an
  assumed-role ARN with a lower-cased role name (alibaba-sts.md §4, the `aliyunreserved…`
  SSO example) while the console shows the mixed-case name. Exact comparison (Vault's choice)
  would lock such callers out, and ignoring case cannot match a different role.
- For users there is no such evidence, and "exactly that user" is the safe reading.
"""

from __future__ import annotations

import re
from enum import StrEnum
from fnmatch import fnmatchcase

import msgspec


class ArnType(StrEnum):
    ROLE = "role"
    ASSUMED_ROLE = "assumed-role"
    USER = "user"
    ROOT = "root"


class Arn(msgspec.Struct, frozen=True):
    full: str  # the input, unchanged, for display and metadata
    account: str
    type: ArnType
    name: str = ""  # role name (role, assumed-role) or user name; "" for root
    session: str = ""  # assumed-role session name

    def __str__(self) -> str:
        return self.full


_ACCOUNT_RE = re.compile(r"^[0-9]+$")
# Alibaba Cloud account ids (the `AccountId` STS reports) are 16 digits.
ACCOUNT_ID_DIGITS = 16
# Names and sessions: RAM allows letters, digits and `.@-_`. Anything outside printable,
# non-space ASCII is refused; `*?[` are refused so a binding never looks like a wildcard
# (bindings are exact; session globs are a separate, explicit setting).
_NAME_RE = re.compile(r"^[!-~]+$")
_GLOB_CHARS = frozenset("*?[]")


def _fields(s: object, what: str) -> tuple[str, str, str, list[str]]:
    """Split `s` into (s, account, type, remaining path segments), validating the frame."""
    if not isinstance(s, str) or not s:
        raise ValueError(f"no {what} provided")
    parts = s.split(":")
    if len(parts) != 5:
        raise ValueError(
            f"invalid {what} {s!r}: expected 5 colon-separated fields "
            f"(acs:ram::<account>:<resource>), got {len(parts)}"
        )
    if parts[0] != "acs":
        raise ValueError(f'invalid {what} {s!r}: does not begin with "acs:"')
    if parts[1] != "ram":
        raise ValueError(f'invalid {what} {s!r}: service is {parts[1]!r}, expected "ram"')
    account = parts[3]
    if not _ACCOUNT_RE.fullmatch(account):
        raise ValueError(f"invalid {what} {s!r}: account {account!r} must be digits")
    kind, *rest = parts[4].split("/")
    return s, account, kind, rest


def _name(s: str, what: str, label: str, value: str) -> str:
    if not value:
        raise ValueError(f"invalid {what} {s!r}: empty {label}")
    if not _NAME_RE.fullmatch(value) or _GLOB_CHARS.intersection(value):
        raise ValueError(f"invalid {what} {s!r}: {label} {value!r} contains invalid characters")
    return value


def parse_role_binding(s: object) -> Arn:
    """Parse a role's configured `arn`: `acs:ram::<account>:role/<name>` or `...:user/<name>`."""
    what = "role binding arn"
    full, account, kind, rest = _fields(s, what)
    if len(account) != ACCOUNT_ID_DIGITS:
        raise ValueError(
            f"invalid {what} {full!r}: account {account!r} is not an Alibaba Cloud account id "
            f"({ACCOUNT_ID_DIGITS} digits, got {len(account)})"
        )
    if kind not in (ArnType.ROLE, ArnType.USER):
        raise ValueError(
            f"invalid {what} {full!r}: type {kind!r} cannot be bound; "
            "use role/<name> or user/<name>"
        )
    if len(rest) != 1:
        raise ValueError(
            f"invalid {what} {full!r}: expected {kind}/<name> with no further segments"
        )
    return Arn(full, account, ArnType(kind), _name(full, what, f"{kind} name", rest[0]))


def parse_caller(s: object) -> Arn:
    """Parse the `Arn` STS returned: assumed-role, user or root."""
    what = "caller arn"
    full, account, kind, rest = _fields(s, what)
    if kind == ArnType.ROOT and not rest:
        return Arn(full, account, ArnType.ROOT)
    if kind == ArnType.USER and len(rest) == 1:
        return Arn(full, account, ArnType.USER, _name(full, what, "user name", rest[0]))
    if kind == ArnType.ASSUMED_ROLE and len(rest) == 2:
        role = _name(full, what, "role name", rest[0])
        session = _name(full, what, "session name", rest[1])
        return Arn(full, account, ArnType.ASSUMED_ROLE, role, session)
    raise ValueError(
        f"invalid {what} {full!r}: expected assumed-role/<role>/<session>, user/<name> or root"
    )


def matches(binding: Arn, caller: Arn, session_globs: list[str]) -> bool:
    """Whether `caller` may log in under `binding`.

    - role binding: assumed-role callers of that account and role (name compared
      case-insensitively, see the module docstring); when `session_globs` is non-empty the
      session name must match one of them (fnmatchcase: case-sensitive, like RAM sessions).
    - user binding: exactly that user of that account. Session globs cannot apply to a user,
      so configuring them with a user binding matches nobody (fail closed on a misconfig).
    - root callers never match: the account's root identity is not bindable.
    """
    if binding.account != caller.account:
        return False
    if binding.type == ArnType.ROLE:
        if caller.type != ArnType.ASSUMED_ROLE:
            return False
        if binding.name.lower() != caller.name.lower():
            return False
        return not session_globs or any(fnmatchcase(caller.session, g) for g in session_globs)
    if binding.type == ArnType.USER:
        return not session_globs and caller.type == ArnType.USER and caller.name == binding.name
    return False


# -- Infisical's allowedArns ----------------------------------------------------------------------

# Infisical's validator (spec infisical-alicloud.md §4.5): 16-digit account, user, role or
# assumed-role. wardgate also takes a trailing `*` (prefix match on the caller's ARN).
_ALLOWED_RE = re.compile(r"^acs:ram::[0-9]{16}:(user|role|assumed-role)/[!-~]+$")


class AllowedArn(msgspec.Struct, frozen=True):
    """One entry of an identity's allowedArns: an exact ARN (`binding` set) or a prefix."""

    text: str
    binding: Arn | None = None  # role/user (as a role binding) or an exact assumed-role session
    prefix: str = ""  # for `...*` entries: the caller's ARN must start with this


def parse_allowed_arn(entry: str) -> AllowedArn:
    """One allowedArns entry; ValueError if it is not an ARN wardgate can match safely."""
    if not _ALLOWED_RE.fullmatch(entry):
        raise ValueError(f"invalid allowed ARN {entry!r}")
    if entry.endswith("*"):
        head = entry[:-1]
        # The account is always whole (the regex fixes it), so a prefix never crosses accounts;
        # the only wildcard is this one trailing `*`.
        if _GLOB_CHARS.intersection(head):
            raise ValueError(f"invalid allowed ARN {entry!r}: only a trailing * is allowed")
        return AllowedArn(entry, prefix=head)
    kind = entry.split(":", 4)[4].split("/", 1)[0]
    if kind == ArnType.ASSUMED_ROLE:
        return AllowedArn(entry, binding=parse_caller(entry))
    return AllowedArn(entry, binding=parse_role_binding(entry))


def allowed(entries: list[AllowedArn], caller: Arn) -> bool:
    """Whether the caller STS reported is admitted by any entry.

    `role/<Name>` admits that role's sessions in the same account (as a Vault role binding);
    `user/<name>` exactly that user; `assumed-role/<Role>/<session>` exactly that session; an
    entry ending in `*` admits callers whose ARN starts with the rest. Root never matches.
    """
    if caller.type == ArnType.ROOT:
        return False
    for entry in entries:
        if entry.prefix:
            if caller.full.startswith(entry.prefix):
                return True
        elif entry.binding is not None and entry.binding.type == ArnType.ASSUMED_ROLE:
            if (
                caller.type == ArnType.ASSUMED_ROLE
                and caller.account == entry.binding.account
                and caller.name.lower() == entry.binding.name.lower()
                and caller.session == entry.binding.session
            ):
                return True
        elif entry.binding is not None and matches(entry.binding, caller, []):
            return True
    return False
