"""`sys/seal-status` and `sys/leader`: what `bao status`, hvac and health probes read.

wardgate has no seal (nothing is encrypted with an unseal key: tokens are stored as keyed hashes)
and no HA election (every server process serves every request from the shared storage), so it
always answers "unsealed" and "no HA". Both are flat objects without the envelope and need no
token, as in Vault, where raw HTTP handlers serve them.
"""

from __future__ import annotations

from typing import Any

from core.context import CoreContext
from core.framework.errors import BadRequest, WardgateError
from core.framework.openapi import not_served
from core.framework.path import Handler, Operation, Request, Response

CLUSTER_NAME = "wardgate"
# Go's zero time, which Vault reports as the active time of a server without HA.
_NO_ACTIVE_TIME = "0001-01-01T00:00:00Z"


class _RawMethodNotAllowed(WardgateError):
    """Vault serves these from raw HTTP handlers: another verb is a bare 405."""

    status = 405


@not_served
async def not_allowed(req: Request[Any]) -> Response:
    raise _RawMethodNotAllowed()


def get_only(handler: Handler) -> dict[Operation, Handler]:
    """A raw GET endpoint: the other verbs are 405, as Vault's raw handlers answer them."""
    return {
        Operation.READ: handler,
        Operation.UPDATE: not_allowed,
        Operation.DELETE: not_allowed,
    }


def seal_status(ctx: CoreContext, version: str) -> Handler:
    async def handler(req: Request[Any]) -> Response:
        body = {
            # Never sealed, so no seal type and no key shares.
            "type": "none",
            "initialized": True,
            "sealed": False,
            "t": 0,
            "n": 0,
            "progress": 0,
            "nonce": "",
            "recovery_seal": False,
            "version": version,
            "commit_date": "",
            "migration": False,
            "cluster_name": CLUSTER_NAME,
            "cluster_id": ctx.cluster_id,
            "storage_type": ctx.config.storage.backend,
        }
        return Response(raw_body=body)

    return handler


async def leader(req: Request[Any]) -> Response:
    body = {
        "ha_enabled": False,
        "is_self": False,
        "active_time": _NO_ACTIVE_TIME,
        "leader_address": "",
        "leader_cluster_address": "",
        "performance_standby": False,
        "performance_standby_last_remote_wal": 0,
        "raft_committed_index": 0,
        "raft_applied_index": 0,
    }
    return Response(raw_body=body)


def health(ctx: CoreContext, version: str) -> Handler:
    async def handler(req: Request[Any]) -> Response:
        # A node that cannot reach its database answers 503 (StorageUnavailable), so a load
        # balancer drops it until the database is back. The pipeline has just asked the
        # database: it reads the request's tables (core/tables.py) before routing any request,
        # this one included, so a separate ping would only add a round trip.
        body = {
            "initialized": True,
            "sealed": False,
            "standby": False,
            "replication_performance_mode": "disabled",
            "replication_dr_mode": "disabled",
            # The injected clock, like every other time the server reports.
            "server_time_utc": int(ctx.clock.now()),
            "version": version,
            "cluster_name": CLUSTER_NAME,
            "cluster_id": ctx.cluster_id,
        }
        # Vault's query flags. wardgate is always initialised, unsealed and active, so only
        # `activecode` decides the status; the others are still checked, as Vault does.
        codes = {name: _code(req.raw, name, default) for name, default in _HEALTH_CODES.items()}
        return Response(raw_body=body, status=codes["activecode"])

    return handler


_HEALTH_CODES = {
    "activecode": 200,
    "standbycode": 429,
    "sealedcode": 503,
    "uninitcode": 501,
    "drsecondarycode": 472,
    "performancestandbycode": 473,
}


def _code(query: dict[str, Any], name: str, default: int) -> int:
    value = query.get(name)
    if value is None or value == "":
        return default
    try:
        code = int(str(value))
    except ValueError:
        raise BadRequest(f'invalid {name} "{value}": an HTTP status code') from None
    if not 100 <= code <= 599:
        raise BadRequest(f'invalid {name} "{value}": an HTTP status code')
    return code
