"""The rate-limit check at the pipeline's edge: before the token is looked at, before the audit
entry and before a plugin runs (so a flood of forged logins never reaches STS)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.audit.record import AuditRecord
from core.framework.errors import RateLimited
from core.framework.path import Backend
from core.quotas import QuotaManager, most_specific
from core.tables import RequestTables


async def check_rate_limit(
    quotas: QuotaManager,
    metrics: Any,
    *,
    path: str,
    mount: str,
    rel: str,
    backend: Backend | None,
    body: Mapping[str, Any],
    client_ip: str | None,
    now: float,
    record: AuditRecord,
    tables: RequestTables | None = None,
) -> None:
    """Raise RateLimited (429) if the one quota that applies says no; set the X-Ratelimit-*
    headers on `record` when they are enabled."""
    table = await quotas.table(tables)
    if not table.quotas:
        return
    config = table.config
    if any(path.startswith(exempt) for exempt in config.rate_limit_exempt_paths):
        return
    role = None
    resolve = backend.resolve_role if backend is not None else None
    if resolve is not None and any(q.role and q.mount == mount for q in table.quotas):
        role = resolve(body)
    suffix = rel.rstrip("/") if mount else path.rstrip("/")
    quota = most_specific(table.quotas, mount, suffix, role)
    if quota is None:
        return
    verdict = quotas.check(quota, client_ip or "", now)
    headers: dict[str, str] = {}
    if config.enable_rate_limit_response_headers:
        if not verdict.blocked:
            headers["X-Ratelimit-Limit"] = str(verdict.limit)
            headers["X-Ratelimit-Remaining"] = str(verdict.remaining)
            headers["X-Ratelimit-Reset"] = str(verdict.reset)
        if not verdict.allowed:
            headers["Retry-After"] = str(verdict.retry_after)
        record.response_headers = headers
    if verdict.allowed:
        return
    metrics.incr("vault.quota.rate_limit.violation", {"name": quota.name})
    if config.enable_rate_limit_audit_logging:
        record.request_only = True
    else:
        record.path = None
    refused = RateLimited(f'request path "{path}": rate limit quota exceeded')
    refused.retry_after = verdict.retry_after
    raise refused
