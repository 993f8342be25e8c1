"""`sys/audit`, `sys/audit/<path>` and `sys/audit-hash/<path>` (Vault's audit device API)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from core.audit.broker import DeviceEntry, option_strings
from core.framework.errors import BadRequest
from core.framework.fields import KVPairs, WeakStr
from core.framework.path import Request, Response

if TYPE_CHECKING:
    from core.context import CoreContext


class EnableAuditInput(msgspec.Struct, kw_only=True):
    type: WeakStr = WeakStr("")
    description: WeakStr = WeakStr("")
    options: KVPairs = msgspec.field(default_factory=KVPairs)
    local: bool = False


class AuditHashInput(msgspec.Struct, kw_only=True):
    input: WeakStr = WeakStr("")


def device_path(req: Request[Any]) -> str:
    path = req.captures.get("path", "").strip("/")
    if not path:
        raise BadRequest("backend path must be specified")
    return path + "/"


class AuditEndpoints:
    def __init__(self, ctx: CoreContext) -> None:
        self._ctx = ctx

    async def list(self, req: Request[Any]) -> Response:
        devices = {d.path: d.listing() for d in await self._ctx.audit.table()}
        return Response(data=devices, legacy_top_level=True)

    async def enable(self, req: Request[EnableAuditInput]) -> None:
        if not req.data.type:
            raise BadRequest("missing audit type")
        device = DeviceEntry(
            path=device_path(req),
            type=str(req.data.type),
            description=str(req.data.description),
            options=option_strings(req.data.options),
            local=req.data.local,
        )
        allow = self._ctx.config.server.allow_audit_log_prefixing
        await self._ctx.audit.enable(device, allow_prefix=allow)

    async def disable(self, req: Request[Any]) -> None:
        await self._ctx.audit.disable(device_path(req))

    async def hash(self, req: Request[AuditHashInput]) -> Response:
        if not req.data.input:
            raise BadRequest('the "input" parameter is empty')
        hashed = await self._ctx.audit.hash(device_path(req), str(req.data.input))
        return Response(data={"hash": hashed}, legacy_top_level=True)
