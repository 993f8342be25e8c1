"""`GET sys/metrics`: Prometheus text 0.0.4 (`?format=prometheus`) or go-metrics JSON (default).

It needs `read` on `sys/metrics` unless `[telemetry] unauthenticated_metrics_access = true`
(then it is also left out of the audit log, as in OpenBao).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.framework.fields import parse_duration
from core.framework.path import Request, Response
from core.metrics import CONTENT_TYPE_TEXT

if TYPE_CHECKING:
    from core.context import CoreContext

_TEXT = "text/plain; charset=utf-8"


def metrics_handler(ctx: CoreContext) -> Any:
    async def read(req: Request[Any]) -> Response:
        fmt = str(req.raw.get("format", "") or "")
        if fmt == "prometheus":
            if not parse_duration(ctx.config.telemetry.prometheus_retention_time):
                return Response(
                    raw_body=b"prometheus is not enabled", status=400, content_type=_TEXT
                )
            return Response(raw_body=ctx.metrics.prometheus_text(), content_type=CONTENT_TYPE_TEXT)
        if fmt:
            message = f'metric response format "{fmt}" unknown'
            return Response(raw_body=message.encode(), status=400, content_type=_TEXT)
        return Response(raw_body=ctx.metrics.json_dump())

    return read
