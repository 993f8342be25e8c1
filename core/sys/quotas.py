"""`sys/quotas/rate-limit/<name>`, its LIST, and `sys/quotas/config` (Vault's quota API)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
from msgspec import UNSET, UnsetType

from core.framework.errors import BadRequest
from core.framework.fields import DurationSeconds, StrList, WeakStr
from core.framework.path import Request, Response
from core.quotas import QuotaConfig, QuotaTable, RateLimitQuota

if TYPE_CHECKING:
    from core.context import CoreContext


class QuotaInput(msgspec.Struct, kw_only=True):
    path: WeakStr = WeakStr("")
    rate: float | str | UnsetType = UNSET
    interval: DurationSeconds | UnsetType = UNSET
    block_interval: DurationSeconds | UnsetType = UNSET
    role: WeakStr = WeakStr("")
    inheritable: bool | UnsetType = UNSET


class QuotaConfigInput(msgspec.Struct, kw_only=True):
    rate_limit_exempt_paths: StrList = msgspec.field(default_factory=StrList)
    enable_rate_limit_audit_logging: bool = False
    enable_rate_limit_response_headers: bool = False


def quota_data(quota: RateLimitQuota) -> dict[str, Any]:
    return {
        "block_interval": quota.block_interval,
        "inheritable": quota.inheritable,
        "interval": quota.interval,
        "name": quota.name,
        "path": quota.path,
        "rate": quota.rate,
        "role": quota.role,
        "type": "rate-limit",
    }


def _rate(value: float | str | UnsetType) -> float:
    try:
        rate = float(value) if not isinstance(value, UnsetType) else 0.0
    except ValueError:
        rate = 0.0
    if not rate > 0 or rate != rate or rate == float("inf"):
        raise BadRequest("'rate' is invalid")
    return rate


class QuotaEndpoints:
    def __init__(self, ctx: CoreContext) -> None:
        self._ctx = ctx

    async def _scope(self, path: str, role: str) -> tuple[str, str]:
        """(mount, suffix) of a quota path, checked against the mounts as Vault does."""
        path = path.strip().lstrip("/")
        if not path:
            if role:
                raise BadRequest("role quotas need a path naming an auth mount")
            return "", ""
        glob = path.endswith("*")
        target = path.rstrip("*")
        if "*" in target:
            raise BadRequest("a quota path may only end in '*'")
        full = target if target.endswith("/") else target + "/"
        mounts = await self._ctx.router.all_mounted()
        found = max(
            (m for m in mounts if full.startswith(m.prefix)),
            key=lambda m: len(m.prefix),
            default=None,
        )
        if found is None:
            raise BadRequest(f'invalid mount path "{full}"')
        remainder = target[len(found.prefix) :]
        suffix = remainder + "*" if glob else remainder.rstrip("/")
        if role:
            if suffix:
                raise BadRequest(
                    "Quotas cannot contain both a path suffix and a role. If a role is "
                    "provided, path must be a valid mount"
                )
            if found.entry is None:
                raise BadRequest(
                    f'Mount path "{found.prefix}" is not a valid auth method and therefore '
                    "unsuitable for use with role-based quotas"
                )
            if found.backend.resolve_role is None:
                raise BadRequest(
                    f'Mount path "{found.prefix}" does not support use with role-based quotas'
                )
        return found.prefix, suffix

    async def write(self, req: Request[QuotaInput]) -> None:
        name = req.captures.get("name", "")
        data = req.data
        table = await self._ctx.quotas.table()
        existing = next((q for q in table.quotas if q.name == name), None)
        role = existing.role if existing is not None else str(data.role).strip().lower()
        mount, suffix = await self._scope(str(data.path), role)
        if "inheritable" in req.raw and req.raw["inheritable"] is None:
            inheritable = False  # an explicit null is "given" (OpenBao)
        elif isinstance(data.inheritable, UnsetType):
            inheritable = not mount
        else:
            inheritable = data.inheritable
        quota = RateLimitQuota(
            name=name,
            mount=mount,
            suffix=suffix,
            rate=_rate(data.rate),
            interval=int(data.interval) if not isinstance(data.interval, UnsetType) else 1,
            block_interval=0
            if isinstance(data.block_interval, UnsetType)
            else int(data.block_interval),
            role=role,
            inheritable=inheritable,
        )
        if quota.interval < 1:
            raise BadRequest("'interval' is invalid")

        def put(current: QuotaTable) -> None:
            for other in current.quotas:
                same = (other.mount, other.suffix, other.role) == (mount, suffix, role)
                if same and other.name != name:
                    raise BadRequest(
                        f'quota rule with similar properties exists under the name "{other.name}"'
                    )
            current.quotas = [q for q in current.quotas if q.name != name] + [quota]

        await self._ctx.quotas.update(put)
        self._ctx.quotas.forget(name)

    async def read(self, req: Request[Any]) -> Response | None:
        name = req.captures.get("name", "")
        table = await self._ctx.quotas.table()
        quota = next((q for q in table.quotas if q.name == name), None)
        return None if quota is None else Response(data=quota_data(quota))

    async def delete(self, req: Request[Any]) -> None:
        name = req.captures.get("name", "")

        def drop(current: QuotaTable) -> None:
            current.quotas = [q for q in current.quotas if q.name != name]

        await self._ctx.quotas.update(drop)
        self._ctx.quotas.forget(name)

    async def list(self, req: Request[Any]) -> Response | None:
        names = sorted(q.name for q in (await self._ctx.quotas.table()).quotas)
        return Response(data={"keys": names}) if names else None

    async def read_config(self, req: Request[Any]) -> Response:
        config = (await self._ctx.quotas.table()).config
        return Response(data=msgspec.structs.asdict(config))

    async def write_config(self, req: Request[QuotaConfigInput]) -> None:
        # Vault replaces the whole config: what is not sent is reset.
        config = QuotaConfig(
            rate_limit_exempt_paths=[p.strip() for p in req.data.rate_limit_exempt_paths if p],
            enable_rate_limit_audit_logging=req.data.enable_rate_limit_audit_logging,
            enable_rate_limit_response_headers=req.data.enable_rate_limit_response_headers,
        )

        def put(current: QuotaTable) -> None:
            current.config = config

        await self._ctx.quotas.update(put)
