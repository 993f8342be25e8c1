"""The `sys/` backend: health and auth-method management, declared like any other backend."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from core.framework.errors import WardgateError
from core.framework.path import Backend, Operation, Path, Request, Response
from core.sys.auth_mounts import AuthMountEndpoints, EnableInput, TuneInput

if TYPE_CHECKING:
    from core.runtime import Runtime


def wardgate_version() -> str:
    try:
        return version("wardgate")
    except PackageNotFoundError:
        return "0.0.0-dev"


def sys_backend(runtime: Runtime) -> Backend:
    mounts = AuthMountEndpoints(runtime)
    read, write, delete = Operation.READ, Operation.UPDATE, Operation.DELETE
    tune_ops = {read: mounts.read_tune, write: mounts.tune}
    return Backend(
        help="System endpoints: health and auth method management.",
        unauthenticated=frozenset({"health"}),
        paths=[
            Path(
                "health",
                {read: _health(runtime), write: _not_allowed, delete: _not_allowed},
                synopsis="Server health (no token needed).",
            ),
            Path("auth", {read: mounts.list}, synopsis="List the enabled auth methods."),
            Path("auth/{path*}/tune", tune_ops, TuneInput, synopsis="Tune an auth method."),
            Path("mounts/auth/{path*}/tune", tune_ops, TuneInput, synopsis="Tune an auth method."),
            Path(
                "auth/{path*}",
                {read: mounts.read, write: mounts.enable, delete: mounts.disable},
                EnableInput,
                synopsis="Enable, read or disable an auth method.",
            ),
        ],
    )


class _HealthMethodNotAllowed(WardgateError):
    """Vault serves sys/health from a raw HTTP handler: another verb is a bare 405."""

    status = 405


async def _not_allowed(req: Request[Any]) -> Response:
    raise _HealthMethodNotAllowed()


def _health(runtime: Runtime) -> Any:
    server_version = wardgate_version()

    async def health(req: Request[Any]) -> Response:
        # A flat object, not an envelope (as Vault's sys/health).
        body = {
            "initialized": True,
            "sealed": False,
            "standby": False,
            "replication_performance_mode": "disabled",
            "replication_dr_mode": "disabled",
            # The injected clock, like every other time the server reports.
            "server_time_utc": int(runtime.clock.now()),
            "version": server_version,
            "cluster_name": "wardgate",
            "cluster_id": runtime.cluster_id,
        }
        return Response(raw_body=body)

    return health
