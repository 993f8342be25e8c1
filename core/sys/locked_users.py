"""`sys/locked-users` (Vault 1.13+, OpenBao): the users each auth mount has locked out after
failed logins, and unlocking one. The counters stay the plugins' (Backend.user_lockout); this
only gathers them in Vault's shape. wardgate has no namespaces: everything is in `root`."""

from __future__ import annotations

from typing import Any

import msgspec

from core.context import CoreContext
from core.framework.errors import BadRequest
from core.framework.fields import WeakStr
from core.framework.path import Operation, Path, Request, Response


class LockedUsersInput(msgspec.Struct, kw_only=True):
    mount_accessor: WeakStr = WeakStr("")  # only this mount's (Vault's filter)


class UnlockInput(msgspec.Struct, kw_only=True):
    mount_accessor: str = ""
    alias_identifier: str = ""


class LockedUsersEndpoints:
    def __init__(self, ctx: CoreContext) -> None:
        self._ctx = ctx

    def paths(self) -> list[Path]:
        return [
            Path(
                "locked-users",
                {Operation.READ: self.list},
                LockedUsersInput,
                synopsis="The users locked out after failed logins, by auth mount.",
            ),
            Path(
                "locked-users/{mount_accessor}/unlock/{alias_identifier}",
                {Operation.UPDATE: self.unlock},
                UnlockInput,
                synopsis="Unlock a user (AppRole: by role ID) of the mount with this accessor.",
            ),
        ]

    async def list(self, req: Request[LockedUsersInput]) -> Response:
        wanted = str(req.data.mount_accessor)
        mounts: list[dict[str, Any]] = []
        for mounted in await self._ctx.router.mounted():
            lockout = mounted.backend.user_lockout
            if lockout is None or (wanted and mounted.info.accessor != wanted):
                continue
            aliases = sorted(await lockout.locked_users())
            if aliases:
                mounts.append(
                    {
                        "alias_identifiers": aliases,
                        "counts": len(aliases),
                        "mount_accessor": mounted.info.accessor,
                    }
                )
        total = sum(entry["counts"] for entry in mounts)
        namespaces = [
            {
                "counts": total,
                "mount_accessors": mounts,
                "namespace_id": "root",
                "namespace_path": "",
            }
        ]
        return Response(data={"by_namespace": namespaces if mounts else [], "total": total})

    async def unlock(self, req: Request[UnlockInput]) -> None:
        accessor = req.captures["mount_accessor"]
        mounted = await self._ctx.router.by_accessor(accessor)
        # Vault answers 204 for an accessor it does not have, which hides a typo: say so.
        if mounted is None:
            raise BadRequest(f'no auth method with mount accessor "{accessor}"')
        if mounted.backend.user_lockout is not None:
            await mounted.backend.user_lockout.unlock_user(req.captures["alias_identifier"])
