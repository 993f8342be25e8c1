"""Token roles: `auth/token/roles/<name>` and the rules `auth/token/create/<name>` applies.

A role lets a caller mint tokens it could not mint by itself (orphans, periodic tokens, policies
outside its own) within limits the role's author set: how CI systems get scoped tokens. The rules
are Vault's (token_store.go, handleCreateCommon); `RoleDecision` is what they decide for one
create call, and the token backend builds the token from it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from core.framework.errors import BadRequest
from core.framework.fields import (
    CommaList,
    DurationSeconds,
    NonNegativeInt,
    WeakStr,
    json_encoder,
)
from core.framework.path import Request, Response
from core.framework.token_fields import normalize_cidrs
from core.storage.base import StorageView

_NAME = re.compile(r"\w([\w.-]*\w)?\Z")
# Vault's check is unanchored `\w[\w-.]+\w` (so at least 3 characters).
_SUFFIX = re.compile(r"\w[\w.-]+\w")
_TOKEN_TYPES = ("service", "batch", "default-service", "default-batch")


class TokenRole(msgspec.Struct, kw_only=True, omit_defaults=True):
    name: str
    allowed_policies: list[str] = msgspec.field(default_factory=list)
    disallowed_policies: list[str] = msgspec.field(default_factory=list)
    allowed_policies_glob: list[str] = msgspec.field(default_factory=list)
    disallowed_policies_glob: list[str] = msgspec.field(default_factory=list)
    allowed_entity_aliases: list[str] | None = None
    orphan: bool = False
    renewable: bool = True
    path_suffix: str = ""
    token_bound_cidrs: list[str] = msgspec.field(default_factory=list)
    token_explicit_max_ttl: int = 0
    token_period: int = 0
    token_type: str = "default-service"
    token_no_default_policy: bool = False
    token_num_uses: int = 0


class RoleInput(msgspec.Struct, kw_only=True):
    """Everything partial: an update keeps what the client did not send."""

    allowed_policies: CommaList | UnsetType = UNSET
    disallowed_policies: CommaList | UnsetType = UNSET
    allowed_policies_glob: CommaList | UnsetType = UNSET
    disallowed_policies_glob: CommaList | UnsetType = UNSET
    allowed_entity_aliases: CommaList | UnsetType = UNSET
    orphan: bool | UnsetType = UNSET
    renewable: bool | UnsetType = UNSET
    path_suffix: WeakStr | UnsetType = UNSET
    token_bound_cidrs: CommaList | UnsetType = UNSET
    token_explicit_max_ttl: DurationSeconds | UnsetType = UNSET
    token_period: DurationSeconds | UnsetType = UNSET
    token_type: WeakStr | UnsetType = UNSET
    token_no_default_policy: bool | UnsetType = UNSET
    token_num_uses: NonNegativeInt | UnsetType = UNSET
    # Deprecated names, still accepted (Vault's upgrade rule: the token_* name wins).
    period: DurationSeconds | UnsetType = UNSET
    explicit_max_ttl: DurationSeconds | UnsetType = UNSET
    bound_cidrs: CommaList | UnsetType = UNSET
    # Not role fields in Vault (OpenBao ignores them silently); accepted so they are no warning.
    token_ttl: Any = UNSET
    token_max_ttl: Any = UNSET
    token_policies: Any = UNSET


_decoder = msgspec.json.Decoder(TokenRole)
_encoder = json_encoder()


def _policy_list(values: list[str]) -> list[str]:
    """Lower-cased, trimmed, de-duplicated (order kept, as Vault's SanitizePolicies sorts)."""
    return sorted({v.strip().lower() for v in values if v.strip()})


def apply_role_input(role: TokenRole, given: RoleInput) -> list[str]:
    """Merge `given` into `role` (in place); returns warnings. Raises BadRequest."""
    warnings: list[str] = []
    for name in (
        "allowed_policies",
        "disallowed_policies",
        "allowed_policies_glob",
        "disallowed_policies_glob",
    ):
        value = getattr(given, name)
        if not isinstance(value, UnsetType):
            setattr(role, name, _policy_list(list(value)))
    if not isinstance(given.allowed_entity_aliases, UnsetType):
        role.allowed_entity_aliases = [a.lower() for a in given.allowed_entity_aliases]
    for name in ("orphan", "renewable", "token_no_default_policy"):
        value = getattr(given, name)
        if not isinstance(value, UnsetType):
            setattr(role, name, bool(value))
    if not isinstance(given.path_suffix, UnsetType):
        suffix = str(given.path_suffix).strip()
        if suffix and (not _SUFFIX.search(suffix) or ".." in suffix):
            raise BadRequest(
                "given role path suffix contains invalid characters; must match \\w[\\w-.]+\\w"
            )
        role.path_suffix = suffix
    if not isinstance(given.token_num_uses, UnsetType):
        if given.token_num_uses < 0:
            raise BadRequest("'token_num_uses' cannot be negative")
        role.token_num_uses = given.token_num_uses
    if not isinstance(given.token_type, UnsetType):
        token_type = str(given.token_type).strip().lower()
        if token_type not in _TOKEN_TYPES:
            raise BadRequest(f"invalid 'token_type' value \"{given.token_type}\"")
        role.token_type = token_type
    _apply_pair(role, given, "token_period", "period", int, warnings)
    _apply_pair(role, given, "token_explicit_max_ttl", "explicit_max_ttl", int, warnings)
    _apply_pair(
        role,
        given,
        "token_bound_cidrs",
        "bound_cidrs",
        lambda v: normalize_cidrs(list(v), "token_bound_cidrs"),
        warnings,
    )
    _check_batch(role)
    return warnings


def _apply_pair(
    role: TokenRole, given: RoleInput, current: str, deprecated: str, convert: Any, out: list[str]
) -> None:
    new, old = getattr(given, current), getattr(given, deprecated)
    if not isinstance(new, UnsetType):
        setattr(role, current, convert(new))
        if not isinstance(old, UnsetType):
            out.append(
                f"Both '{current}' and deprecated '{deprecated}' value supplied, "
                "ignoring the deprecated value"
            )
    elif not isinstance(old, UnsetType):
        setattr(role, current, convert(old))


def _check_batch(role: TokenRole) -> None:
    if role.token_type != "batch":
        return
    prefix = "'token_type' cannot be 'batch' when role is set to generate "
    if not role.orphan:
        raise BadRequest(prefix + "non-orphan tokens")
    if role.token_period:
        raise BadRequest(prefix + "periodic tokens")
    if role.renewable:
        raise BadRequest(prefix + "renewable tokens")
    if role.token_explicit_max_ttl:
        raise BadRequest(prefix + "tokens with an explicit max TTL")


def role_data(role: TokenRole) -> dict[str, Any]:
    """The GET view, keys sorted as Vault's; deprecated names mirror the token_* values."""
    data: dict[str, Any] = {
        "allowed_entity_aliases": role.allowed_entity_aliases,
        "allowed_policies": list(role.allowed_policies),
        "allowed_policies_glob": list(role.allowed_policies_glob),
        "disallowed_policies": list(role.disallowed_policies),
        "disallowed_policies_glob": list(role.disallowed_policies_glob),
        "explicit_max_ttl": role.token_explicit_max_ttl,
        "name": role.name,
        "orphan": role.orphan,
        "path_suffix": role.path_suffix,
        "period": role.token_period,
        "renewable": role.renewable,
    }
    if role.token_bound_cidrs:
        data["token_bound_cidrs"] = list(role.token_bound_cidrs)
    data.update(
        token_explicit_max_ttl=role.token_explicit_max_ttl,
        token_no_default_policy=role.token_no_default_policy,
    )
    if role.token_num_uses:
        data["token_num_uses"] = role.token_num_uses
    data.update(token_period=role.token_period, token_type=role.token_type)
    return data


# -- the create rules ---------------------------------------------------------------------------


def glob_match(pattern: str, value: str) -> bool:
    """go-glob: `*` anywhere matches any run of characters; nothing else is special."""
    parts = pattern.split("*")
    regex = ".*".join(re.escape(p) for p in parts)
    return re.fullmatch(regex, value) is not None


def _any_glob(patterns: list[str], value: str) -> bool:
    return any(glob_match(p, value) for p in patterns)


def _go_quoted(values: list[str]) -> str:
    """A string list as Go's %q prints it: `["a" "b"]`."""
    return "[" + " ".join(msgspec.json.encode(v).decode() for v in values) + "]"


@dataclass(slots=True)
class RoleDecision:
    """What a role decides for one `auth/token/create/<role>` call."""

    policies: list[str]
    # Whether the role chose the policies (then the parent-subset rule does not apply).
    role_policies: bool
    token_type: str
    orphan: bool
    renewable: bool
    num_uses: int
    period: int
    explicit_max_ttl: int
    bound_cidrs: list[str]
    path: str
    warnings: list[str] = field(default_factory=list)


def decide(
    role: TokenRole,
    *,
    requested_policies: list[str],
    no_default_policy: bool,
    parent_policies: list[str],
    requested_type: str | None,
    renewable: bool,
    num_uses: int,
    period: int,
    explicit_max_ttl: int,
) -> RoleDecision:
    """Vault's handleCreateCommon for a role, up to the TTL arithmetic."""
    disallows_default = "default" in role.disallowed_policies or _any_glob(
        role.disallowed_policies_glob, "default"
    )
    add_default = not (role.token_no_default_policy or no_default_policy or disallows_default)
    requested = _policy_list(requested_policies)
    has_allowed = bool(role.allowed_policies or role.allowed_policies_glob)
    if has_allowed:
        allowed = sorted({*role.allowed_policies, *(["default"] if add_default else [])})
        if not requested:
            policies = allowed
        else:
            if add_default and "default" not in requested:
                requested = sorted([*requested, "default"])
            outside = [
                p
                for p in requested
                if p not in allowed and not _any_glob(role.allowed_policies_glob, p)
            ]
            if outside:
                raise BadRequest(
                    f"token policies ({_go_quoted(requested)}) must be subset of the role's "
                    f"allowed policies ({_go_quoted(allowed)}) or glob policies "
                    f"({_go_quoted(role.allowed_policies_glob)})"
                )
            policies = requested
    else:
        policies = requested or _policy_list(parent_policies)
        if add_default and "default" not in policies:
            policies = sorted([*policies, "default"])
        if not add_default:
            policies = [p for p in policies if p != "default"]
    for policy in policies:
        if policy in role.disallowed_policies or _any_glob(role.disallowed_policies_glob, policy):
            raise BadRequest(f'token policy "{policy}" is disallowed by this role')

    if role.token_type in ("service", "batch"):
        token_type = role.token_type
    else:
        token_type = requested_type or role.token_type.removeprefix("default-")

    warnings: list[str] = []
    if role.token_explicit_max_ttl:
        if explicit_max_ttl and explicit_max_ttl != role.token_explicit_max_ttl:
            explicit_max_ttl = min(explicit_max_ttl, role.token_explicit_max_ttl)
            warnings.append(
                "Explicit max TTL specified both during creation call and in role; "
                f"using the lesser value of {explicit_max_ttl} seconds"
            )
        else:
            explicit_max_ttl = role.token_explicit_max_ttl
    if role.token_period:
        if period and period != role.token_period:
            period = min(period, role.token_period)
            warnings.append(
                "Period specified both during creation call and in role; "
                f"using the lesser value of {period} seconds"
            )
        else:
            period = role.token_period
    if role.token_num_uses:
        num_uses = role.token_num_uses if not num_uses else min(num_uses, role.token_num_uses)

    path = f"auth/token/create/{role.name}"
    if role.path_suffix:
        path += "/" + role.path_suffix
    return RoleDecision(
        policies=policies,
        role_policies=has_allowed,
        token_type=token_type,
        orphan=role.orphan,
        renewable=renewable and role.renewable,
        num_uses=num_uses,
        period=period,
        explicit_max_ttl=explicit_max_ttl,
        bound_cidrs=list(role.token_bound_cidrs),
        path=path,
        warnings=warnings,
    )


# -- storage and endpoints ----------------------------------------------------------------------


class RoleStore:
    def __init__(self, storage: StorageView) -> None:
        self._storage = storage

    async def get(self, name: str) -> TokenRole | None:
        raw = await self._storage.get(name)
        return None if raw is None else _decoder.decode(raw)

    async def put(self, role: TokenRole) -> None:
        await self._storage.put(role.name, _encoder.encode(role))

    async def delete(self, name: str) -> None:
        await self._storage.delete(name)

    async def names(self) -> list[str]:
        return await self._storage.list("")


def _role_name(req: Request[Any]) -> str:
    name = req.captures.get("name", "")
    if not _NAME.match(name):
        raise BadRequest(f"invalid role name {name!r}: letters, digits, '_', '-' and '.'")
    return name


class RoleEndpoints:
    def __init__(self, roles: RoleStore) -> None:
        self._roles = roles

    async def exists(self, req: Request[Any]) -> bool:
        return await self._roles.get(req.captures.get("name", "")) is not None

    async def write(self, req: Request[RoleInput]) -> Response | None:
        name = _role_name(req)
        if "token_type" in req.raw and req.raw["token_type"] is None:
            # The framework drops JSON nulls as "not sent"; Vault refuses this one.
            raise BadRequest("Invalid 'token_type' value: null")
        role = await self._roles.get(name) or TokenRole(name=name)
        warnings = apply_role_input(role, req.data)
        await self._roles.put(role)
        return Response(warnings=warnings) if warnings else None

    async def read(self, req: Request[Any]) -> Response | None:
        role = await self._roles.get(req.captures.get("name", ""))
        return None if role is None else Response(data=role_data(role))

    async def delete(self, req: Request[Any]) -> None:
        await self._roles.delete(_role_name(req))

    async def list(self, req: Request[Any]) -> Response | None:
        names = await self._roles.names()
        return Response(data={"keys": sorted(names)}) if names else None
