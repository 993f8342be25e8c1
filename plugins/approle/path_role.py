"""Role CRUD (`role/<name>`), LIST (`role/`), and the role ID (`role/<name>/role-id`)."""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from core.framework import (
    BadRequest,
    CommaList,
    DurationSeconds,
    MountInfo,
    Operation,
    Path,
    Request,
    Response,
    WeakStr,
)
from core.framework.errors import UnsupportedPath
from core.framework.token_fields import (
    TokenFieldsInput,
    TokenSettings,
    apply_token_fields,
    token_fields_data,
)
from plugins.approle.cidrs import validate_cidrs
from plugins.approle.role import (
    MAX_ID_BYTES,
    ROLE_NAME,
    Role,
    RoleStore,
    check_name,
    new_role_id,
)
from plugins.approle.secret_ids import SecretIdStore


class RoleInput(TokenFieldsInput, kw_only=True):
    role: str = ""
    role_id: WeakStr | UnsetType = UNSET
    bind_secret_id: bool | UnsetType = UNSET
    secret_id_bound_cidrs: CommaList | UnsetType = UNSET
    bound_cidr_list: CommaList | UnsetType = UNSET  # deprecated name of the above
    secret_id_num_uses: int | UnsetType = UNSET
    secret_id_ttl: DurationSeconds | UnsetType = UNSET
    local_secret_ids: bool | UnsetType = UNSET
    enable_local_secret_ids: bool | UnsetType = UNSET  # what hvac sends for local_secret_ids
    token_strictly_bind_ip: bool | UnsetType = UNSET


class RoleIdInput(msgspec.Struct, kw_only=True):
    role: str = ""
    role_id: WeakStr = WeakStr("")


class ListInput(msgspec.Struct, kw_only=True):
    after: WeakStr = WeakStr("")
    limit: int = 0


ROLE_HELP = """An AppRole role: machines log in with its role ID and a secret ID issued for it.

`bind_secret_id` (default true) requires a secret ID at login; `secret_id_bound_cidrs` limits
where logins may come from; `secret_id_num_uses` and `secret_id_ttl` are the defaults and caps of
new secret IDs (0: unlimited, never expires). The token_* fields are Vault's token settings."""

MAX_TTL_WARNING = (
    "token_max_ttl is greater than the backend mount's maximum TTL value; issued tokens' max "
    "TTL value will be truncated"
)


def role_data(role: Role) -> dict[str, Any]:
    data: dict[str, Any] = {
        "bind_secret_id": role.bind_secret_id,
        "local_secret_ids": role.local_secret_ids,
        "secret_id_bound_cidrs": role.secret_id_bound_cidrs,
        "secret_id_num_uses": role.secret_id_num_uses,
        "secret_id_ttl": role.secret_id_ttl,
        "token_strictly_bind_ip": role.token_strictly_bind_ip,
        **token_fields_data(role.token),
    }
    return dict(sorted(data.items()))


class RolePaths:
    def __init__(self, roles: RoleStore, secrets: SecretIdStore) -> None:
        self._roles = roles
        self._secrets = secrets

    def paths(self) -> list[Path]:
        role_ops = {
            Operation.CREATE: self.write,
            Operation.UPDATE: self.write,
            Operation.READ: self.read,
            Operation.DELETE: self.delete,
        }
        lower = frozenset({"role"})
        role_capture = {"role": ROLE_NAME}
        return [
            Path("role/", {Operation.LIST: self.list}, ListInput, synopsis="List the roles."),
            Path(
                "role/{role}",
                role_ops,
                RoleInput,
                existence_check=self.exists,
                case_insensitive=lower,
                captures=role_capture,
                synopsis="Create, read, update or delete a role.",
                description=ROLE_HELP,
            ),
            Path(
                "role/{role}/role-id",
                {Operation.READ: self.read_role_id, Operation.UPDATE: self.write_role_id},
                RoleIdInput,
                case_insensitive=lower,
                captures=role_capture,
                synopsis="Read or set the role ID of a role.",
            ),
        ]

    async def exists(self, req: Request[Any]) -> bool:
        name = req.captures["role"]
        role = await self._roles.get(name)
        req.remember("role/" + name, role)  # the write needs it too
        return role is not None

    async def write(self, req: Request[RoleInput]) -> Response | None:
        name = check_name(req.captures["role"])
        known, current = req.recall("role/" + name)
        if not known:
            current = await self._roles.get(name)
        role, warnings = merge_role(current, req.data, req.mount)
        await self._roles.put(name, role, current.role_id if current else None)
        return Response(warnings=warnings) if warnings else None

    async def read(self, req: Request[Any]) -> Response | None:
        role = await self._roles.get(req.captures["role"])
        return None if role is None else Response(data=role_data(role))

    async def delete(self, req: Request[Any]) -> None:
        name = check_name(req.captures["role"])
        role = await self._roles.get(name)
        if role is not None:
            # The role first: from then on no login can find it, whatever the sweep of its
            # secret IDs still has to do.
            await self._roles.delete(name, role)
            await self._secrets.destroy_role(name)

    async def list(self, req: Request[ListInput]) -> Response | None:
        limit = req.data.limit if req.data.limit > 0 else None
        names = await self._roles.names(after=str(req.data.after), limit=limit)
        return Response(data={"keys": names}) if names else None

    async def read_role_id(self, req: Request[Any]) -> Response | None:
        role = await self._roles.get(req.captures["role"])
        return None if role is None else Response(data={"role_id": role.role_id})

    async def write_role_id(self, req: Request[RoleIdInput]) -> None:
        name = check_name(req.captures["role"])
        role = await self._roles.get(name)
        if role is None:
            raise UnsupportedPath()
        if not str(req.data.role_id):
            raise BadRequest("missing role_id")
        previous = role.role_id
        role.role_id = _role_id(str(req.data.role_id))
        await self._roles.put(name, role, previous)


def merge_role(current: Role | None, data: RoleInput, mount: MountInfo) -> tuple[Role, list[str]]:
    """A role write (partial: what was not sent is kept) applied to the stored role, or to a new
    one; returns the role to store and the warnings. Every check of a role write runs here, so
    the per-field endpoints cannot store what `role/<name>` would refuse."""
    role = msgspec.structs.replace(current) if current else Role(role_id=new_role_id())
    if not isinstance(data.role_id, UnsetType):
        role.role_id = _role_id(str(data.role_id))
    if not isinstance(data.bind_secret_id, UnsetType):
        role.bind_secret_id = data.bind_secret_id
    cidrs = data.secret_id_bound_cidrs
    if isinstance(cidrs, UnsetType):
        cidrs = data.bound_cidr_list
    if not isinstance(cidrs, UnsetType):
        role.secret_id_bound_cidrs = validate_cidrs(list(cidrs))
    if not isinstance(data.secret_id_num_uses, UnsetType):
        if data.secret_id_num_uses < 0:
            raise BadRequest("secret_id_num_uses cannot be negative")
        role.secret_id_num_uses = data.secret_id_num_uses
    if not isinstance(data.secret_id_ttl, UnsetType):
        role.secret_id_ttl = int(data.secret_id_ttl)
    local = data.local_secret_ids
    if isinstance(local, UnsetType):
        local = data.enable_local_secret_ids
    if not isinstance(local, UnsetType):
        if current is not None and local != current.local_secret_ids:
            raise BadRequest("local_secret_ids can only be modified during role creation")
        role.local_secret_ids = local
    if not isinstance(data.token_strictly_bind_ip, UnsetType):
        role.token_strictly_bind_ip = data.token_strictly_bind_ip
    role.token, warnings = apply_token_fields(current.token if current else TokenSettings(), data)
    check_role(role)
    # Vault checks the legacy `period` (only) against the mount on this endpoint; the per-field
    # `role/<name>/period` endpoint checks `token_period` too (path_fields.py).
    check_period_within_mount(role.token.period, mount)
    if role.token.token_max_ttl > mount.max_lease_ttl:
        warnings.append(MAX_TTL_WARNING)
    return role, warnings


def check_period_within_mount(period: int, mount: MountInfo) -> None:
    if period > mount.max_lease_ttl:
        raise BadRequest(
            f'period of "{go_duration(period)}" is greater than the backend\'s maximum '
            f'lease TTL of "{go_duration(mount.max_lease_ttl)}"'
        )


def go_duration(seconds: int) -> str:
    """Go's time.Duration text, which Vault prints in this message: `1h0m0s`, `5m0s`, `30s`."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def check_role(role: Role) -> None:
    """What must hold of a whole role, however it was changed."""
    if role.token_strictly_bind_ip and role.token.token_bound_cidrs:
        raise BadRequest(
            "'token_strictly_bind_ip' conflicts with 'token_bound_cidrs'; set only one"
        )
    if not (role.bind_secret_id or role.secret_id_bound_cidrs or role.token.token_bound_cidrs):
        raise BadRequest("at least one constraint should be enabled on the role")


def _role_id(value: str) -> str:
    if not value.strip():
        raise BadRequest("missing role_id")
    if len(value.encode()) > MAX_ID_BYTES:
        raise BadRequest(f"role_id is longer than the maximum of {MAX_ID_BYTES} bytes")
    return value
