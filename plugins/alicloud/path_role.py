"""Role CRUD: `role/<name>` (create, read, update, delete) and `role/`, `roles/` (list)."""

from __future__ import annotations

from typing import Any

from msgspec import UNSET, UnsetType

from core.framework import BadRequest, CommaList, Operation, Path, Request, Response, WeakStr
from core.framework.token_fields import (
    TokenFieldsInput,
    TokenSettings,
    apply_token_fields,
    token_fields_data,
)
from plugins.alicloud.arn import parse_role_binding
from plugins.alicloud.role import ROLE_NAME, Role, RoleStore


class RoleInput(TokenFieldsInput, kw_only=True):
    role: str = ""
    arn: WeakStr | UnsetType = UNSET
    bound_session_names: CommaList | UnsetType = UNSET


ROLE_HELP = """A role binds an Alibaba Cloud identity to token settings.

`arn` is a RAM role ARN (acs:ram::<account>:role/<name>: any session that assumed that role may
log in) or a RAM user ARN (acs:ram::<account>:user/<name>: exactly that user).
`bound_session_names` (role ARNs only) limits the assumed-role session names, with globs such as
`vm-ram-i-*`. The token_* fields are Vault's common token settings."""


class RolePaths:
    def __init__(self, roles: RoleStore) -> None:
        self._roles = roles

    def paths(self) -> list[Path]:
        collection = {Operation.LIST: self.list}
        return [
            Path("role/", collection, synopsis="List the roles."),
            Path("roles/", collection, synopsis="List the roles."),
            Path(
                "role/{role}",
                {
                    Operation.CREATE: self.write,
                    Operation.UPDATE: self.write,
                    Operation.READ: self.read,
                    Operation.DELETE: self.delete,
                },
                RoleInput,
                existence_check=self.exists,
                case_insensitive=frozenset({"role"}),
                captures={"role": ROLE_NAME},
                synopsis="Create, read, update or delete a role.",
                description=ROLE_HELP,
            ),
        ]

    async def exists(self, req: Request[Any]) -> bool:
        name = req.captures["role"]
        role = await self._roles.get(name)
        req.remember("role/" + name, role)  # the write needs it too
        return role is not None

    async def write(self, req: Request[RoleInput]) -> Response | None:
        name = req.captures["role"]
        data = req.data
        known, current = req.recall("role/" + name)
        if not known:
            current = await self._roles.get(name)
        if isinstance(data.arn, UnsetType):
            if current is None:
                raise BadRequest("the arn is required to create a role")
            arn = current.arn
        else:
            arn = str(data.arn).strip()
        try:
            binding = parse_role_binding(arn)
        except ValueError as exc:
            raise BadRequest(f"invalid arn {arn!r}: {exc}") from None
        sessions = (
            (current.bound_session_names if current else [])
            if isinstance(data.bound_session_names, UnsetType)
            else list(data.bound_session_names)
        )
        if sessions and binding.type != "role":
            raise BadRequest("bound_session_names applies only to role ARNs (sessions of a role)")
        settings, warnings = apply_token_fields(current.token if current else TokenSettings(), data)
        await self._roles.put(name, Role(arn=arn, bound_session_names=sessions, token=settings))
        ttl = settings.token_ttl or settings.ttl
        if ttl > req.mount.max_lease_ttl:
            warnings.append(
                f"token_ttl of {ttl} seconds exceeds the mount's max lease TTL of "
                f"{req.mount.max_lease_ttl} seconds; logins will be capped to the latter"
            )
        return Response(warnings=warnings) if warnings else None

    async def read(self, req: Request[Any]) -> Response | None:
        role = await self._roles.get(req.captures["role"])
        if role is None:
            return None
        data: dict[str, Any] = {
            "arn": role.arn,
            "bound_session_names": list(role.bound_session_names),
            **token_fields_data(role.token),
        }
        return Response(data=dict(sorted(data.items())))

    async def delete(self, req: Request[Any]) -> None:
        await self._roles.delete(req.captures["role"])

    async def list(self, req: Request[Any]) -> Response | None:
        names = await self._roles.names()
        return Response(data={"keys": names}) if names else None
