"""Vault's per-field role endpoints (`role/<name>/token-ttl`, `.../policies`, ...), all made
from one table: GET answers `data: {<field>: value}`, POST/PUT sets the field through the role
write (same parsing, same checks), DELETE puts the field back to its default.

As in Vault: on a role that does not exist a read is 404 `{"errors":[]}`, a write 404
`unsupported path`, a delete 204 (nothing to do).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from core.framework import BadRequest, MountInfo, NoInput, Operation, Path, Request, Response
from core.framework.errors import UnsupportedPath
from core.framework.token_fields import TokenSettings
from plugins.approle.path_role import (
    RoleInput,
    check_period_within_mount,
    check_role,
    merge_role,
    role_data,
)
from plugins.approle.role import Role, RoleStore, check_name

# An extra check a field's own endpoint makes before the role write's (Vault words some
# conflicts differently there; the recorded answer is what clients match on).
PreCheck = Callable[[Role, RoleInput, MountInfo], None]


@dataclass(frozen=True, slots=True)
class RoleField:
    segment: str  # the path segment after role/<name>/
    key: str  # the key the read answers with and the write takes
    # Other names the write takes (Vault's deprecated ones); the first sent wins, `key` first.
    aliases: tuple[str, ...] = ()
    # role_data()'s key the value is read from, when it is not `key` (a deprecated endpoint).
    source: str = ""
    # A deprecated key the read adds while it was the last way the value was set (Vault's rule).
    legacy: str = ""
    # Attributes of Role ("token." for its TokenSettings) that DELETE puts back to the default;
    # empty: the field cannot be changed here (read-only).
    resets: tuple[str, ...] = ()
    precheck: PreCheck | None = None
    synopsis: str = ""


def _ttl_within_max(role: Role, data: RoleInput, _: MountInfo) -> None:
    ttl, limit = data.token_ttl, role.token.token_max_ttl or role.token.max_ttl
    if not isinstance(ttl, UnsetType) and limit > 0 and int(ttl) > limit:
        raise BadRequest("token_ttl should not be greater than token_max_ttl")


def _period_within_mount(role: Role, data: RoleInput, mount: MountInfo) -> None:
    period = data.token_period if not isinstance(data.token_period, UnsetType) else data.period
    if not isinstance(period, UnsetType):
        check_period_within_mount(int(period), mount)


FIELDS: tuple[RoleField, ...] = (
    RoleField(
        "policies",
        "token_policies",
        aliases=("policies",),
        legacy="policies",
        resets=("token.token_policies", "token.policies"),
        synopsis="The policies of the role's tokens.",
    ),
    RoleField(
        "local-secret-ids",
        "local_secret_ids",
        synopsis="Whether the role's secret IDs are local (set at creation only).",
    ),
    RoleField(
        "bind-secret-id",
        "bind_secret_id",
        resets=("bind_secret_id",),
        synopsis="Whether a login must present a secret ID.",
    ),
    RoleField(
        "secret-id-bound-cidrs",
        "secret_id_bound_cidrs",
        resets=("secret_id_bound_cidrs",),
        synopsis="The CIDRs logins on the role may come from.",
    ),
    RoleField(
        "bound-cidr-list",
        "bound_cidr_list",
        source="secret_id_bound_cidrs",
        resets=("secret_id_bound_cidrs",),
        synopsis="Deprecated name of secret-id-bound-cidrs.",
    ),
    RoleField(
        "secret-id-num-uses",
        "secret_id_num_uses",
        resets=("secret_id_num_uses",),
        synopsis="Default and cap of the uses of new secret IDs (0: unlimited).",
    ),
    RoleField(
        "secret-id-ttl",
        "secret_id_ttl",
        resets=("secret_id_ttl",),
        synopsis="Default and cap of the TTL of new secret IDs (0: never expire).",
    ),
    RoleField(
        "token-ttl",
        "token_ttl",
        resets=("token.token_ttl", "token.ttl"),
        precheck=_ttl_within_max,
        synopsis="The TTL of the role's tokens.",
    ),
    RoleField(
        "token-max-ttl",
        "token_max_ttl",
        resets=("token.token_max_ttl", "token.max_ttl"),
        synopsis="The max TTL of the role's tokens.",
    ),
    RoleField(
        "token-num-uses",
        "token_num_uses",
        resets=("token.token_num_uses",),
        synopsis="How many uses the role's tokens have (0: unlimited).",
    ),
    RoleField(
        "token-bound-cidrs",
        "token_bound_cidrs",
        resets=("token.token_bound_cidrs", "token.bound_cidrs"),
        synopsis="The CIDRs the role's tokens may be used from.",
    ),
    RoleField(
        "period",
        "token_period",
        aliases=("period",),
        legacy="period",
        resets=("token.token_period", "token.period"),
        precheck=_period_within_mount,
        synopsis="The period of the role's tokens (periodic tokens).",
    ),
    RoleField(
        "token-type",
        "token_type",
        resets=("token.token_type",),
        synopsis="The type of the role's tokens (wardgate's; Vault has no such endpoint).",
    ),
)

_ROLE_INPUT_TYPES = {f.name: f.type for f in msgspec.structs.fields(RoleInput)}
_DEFAULT_ROLE = Role(role_id="")


def _input_type(field: RoleField) -> type[msgspec.Struct]:
    """The endpoint's own input: only its names, typed (and so parsed) as in RoleInput."""
    names = (field.key, *field.aliases)
    members: list[tuple[str, Any, Any]] = [("role", str, "")]
    members += [(name, _ROLE_INPUT_TYPES[name], UNSET) for name in names]
    name = "".join(part.title() for part in field.segment.split("-")) + "Input"
    return msgspec.defstruct(name, members, kw_only=True)


def _reset(role: Role, attribute: str) -> None:
    target: Role | TokenSettings = role
    default: Role | TokenSettings = _DEFAULT_ROLE
    if attribute.startswith("token."):
        target, default, attribute = role.token, TokenSettings(), attribute[len("token.") :]
    setattr(target, attribute, getattr(default, attribute))


class RoleFieldPaths:
    def __init__(self, roles: RoleStore) -> None:
        self._roles = roles

    def paths(self) -> list[Path]:
        return [self._path(field) for field in FIELDS]

    def _path(self, field: RoleField) -> Path:
        async def read(req: Request[Any]) -> Response | None:
            role = await self._roles.get(req.captures["role"])
            if role is None:
                return None
            data = role_data(role)
            answer = {field.key: data[field.source or field.key]}
            if field.legacy and field.legacy in data:
                answer[field.legacy] = data[field.legacy]
            return Response(data=answer)

        async def update(req: Request[Any]) -> Response | None:
            name = check_name(req.captures["role"])
            role = await self._roles.get(name)
            if role is None:
                raise UnsupportedPath()
            given = {
                n: getattr(req.data, n)
                for n in (field.key, *field.aliases)
                if not isinstance(getattr(req.data, n), UnsetType)
            }
            if not given:
                raise BadRequest(f"missing {field.key}")
            data = RoleInput(**given)
            if field.precheck is not None:
                field.precheck(role, data, req.mount)
            new, warnings = merge_role(role, data, req.mount)
            await self._roles.put(name, new, role.role_id)
            return Response(warnings=warnings) if warnings else None

        async def delete(req: Request[Any]) -> None:
            name = check_name(req.captures["role"])
            role = await self._roles.get(name)
            if role is None:
                return
            new = msgspec.structs.replace(role, token=msgspec.structs.replace(role.token))
            for attribute in field.resets:
                _reset(new, attribute)
            check_role(new)
            await self._roles.put(name, new, role.role_id)

        operations: dict[Operation, Any] = {Operation.READ: read}
        if field.resets:
            operations |= {Operation.UPDATE: update, Operation.DELETE: delete}
        return Path(
            f"role/{{role}}/{field.segment}",
            operations,
            _input_type(field) if field.resets else NoInput,
            case_insensitive=frozenset({"role"}),
            synopsis=field.synopsis,
        )
