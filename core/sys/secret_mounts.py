"""`sys/mounts` and `sys/mounts/<path>`: Vault's table of secret-engine mounts.

wardgate has no secret engines. The table lists what does serve requests there, `sys/` (as
Vault lists it), so `bao secrets list`, hvac's `list_mounted_secrets_engines` and tools that
probe the table at start-up get Vault's shape; enabling an engine is refused with a message
that says why. Auth methods are in `sys/auth`, as in Vault.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec

from core.context import CoreContext
from core.framework.errors import BadRequest
from core.framework.path import Request, Response

SYS_PATH = "sys/"


class MountInput(msgspec.Struct, kw_only=True):
    """What `sys/mounts/<path>` takes when enabling an engine; read only to name the type."""

    type: str = ""
    description: str = ""
    config: dict[str, Any] = msgspec.field(default_factory=dict)
    options: dict[str, Any] | None = None
    local: bool = False
    seal_wrap: bool = False
    external_entropy_access: bool = False
    plugin_version: str = ""


def _sys_entry(ctx: CoreContext) -> dict[str, Any]:
    return {
        "accessor": "system",
        "config": {
            "default_lease_ttl": 0,
            "force_no_cache": False,
            "max_lease_ttl": 0,
        },
        "description": "system endpoints used for control, policy and debugging",
        "external_entropy_access": False,
        "local": False,
        "options": None,
        "plugin_version": "",
        "running_plugin_version": "",
        "running_sha256": "",
        "seal_wrap": False,
        "type": "system",
        # Stable for the life of the storage, like the rest of the mount table.
        "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"wardgate:{ctx.cluster_id}:{SYS_PATH}")),
    }


def _mount_path(req: Request[Any]) -> str:
    return req.captures["path"].strip("/") + "/"


class SecretMountEndpoints:
    def __init__(self, ctx: CoreContext) -> None:
        self._ctx = ctx

    async def list(self, req: Request[Any]) -> Response:
        return Response(data={SYS_PATH: _sys_entry(self._ctx)}, legacy_top_level=True)

    async def read(self, req: Request[Any]) -> Response:
        path = _mount_path(req)
        if path != SYS_PATH:
            raise BadRequest(f"No secret engine mount at {path}")
        return Response(data=_sys_entry(self._ctx), legacy_top_level=True)

    async def read_tune(self, req: Request[Any]) -> Response:
        """hvac's `read_mount_configuration` reads this."""
        path = _mount_path(req)
        if path != SYS_PATH:
            raise BadRequest(f'cannot fetch sysview for path "{path}"')
        data = {
            "default_lease_ttl": self._ctx.config.default_ttl,
            "description": _sys_entry(self._ctx)["description"],
            "force_no_cache": False,
            "max_lease_ttl": self._ctx.config.max_ttl,
        }
        return Response(data=data, legacy_top_level=True)

    async def tune(self, req: Request[Any]) -> Response:
        path = _mount_path(req)
        if path != SYS_PATH:
            raise BadRequest(f'tune of path "{path}" failed: no mount entry found')
        raise BadRequest("sys/ cannot be tuned: its TTLs are token.default_ttl and token.max_ttl")

    async def enable(self, req: Request[MountInput]) -> Response:
        path = _mount_path(req)
        if path == SYS_PATH:
            raise BadRequest(f"cannot mount at {SYS_PATH!r}: it is in use by the system")
        kind = f'"{req.data.type}" ' if req.data.type else ""
        raise BadRequest(
            f"cannot enable the {kind}secrets engine at {path}: wardgate has no secret engines "
            "(it is an auth server; auth methods are enabled under sys/auth)"
        )

    async def disable(self, req: Request[Any]) -> None:
        path = _mount_path(req)
        if path == SYS_PATH:
            raise BadRequest(f"cannot unmount {SYS_PATH!r}")
        # Vault: disabling a path where nothing is mounted succeeds and does nothing.
        return None
