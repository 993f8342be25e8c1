"""The AliCloud auth method: the factory the core calls for each mount, and `register()`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import msgspec

from core.framework import Backend, BackendContext, BadRequest, DurationSeconds
from core.framework.fields import decode_hook
from core.registry import DevEnvironment, PluginRegistry
from plugins.alicloud.infisical import AliCloudInfisical
from plugins.alicloud.path_login import LoginPaths
from plugins.alicloud.path_role import RolePaths
from plugins.alicloud.role import RoleStore
from plugins.alicloud.sts import NonceLedger, StsClient, make_http_client
from plugins.alicloud.verify import CallerVerifier

HELP = """The AliCloud auth method: workloads on Alibaba Cloud (ECS RAM roles, ACK RRSA, RAM users,
temporary STS credentials) log in with a signed STS GetCallerIdentity request."""


class AliCloudConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The mount's `[auth.config]` table (or `options` when enabled through sys/auth)."""

    # Send every STS replay here instead (scheme://host:port), for private endpoints and tests.
    # The signed URL is still validated against the real STS hosts.
    sts_endpoint: str = ""
    connect_timeout: float = 5.0
    timeout: float = 10.0
    # A login's Timestamp must be this close to the server's clock; nonces are kept as long.
    timestamp_window: DurationSeconds = DurationSeconds(900)
    # An HTTPS proxy for the STS requests (none unless given; the environment is ignored).
    proxy: str = ""


def parse_config(raw: dict[str, Any]) -> AliCloudConfig:
    try:
        config = msgspec.convert(raw, AliCloudConfig, dec_hook=decode_hook, strict=False)
    except msgspec.ValidationError as exc:
        raise BadRequest(f"invalid alicloud mount config: {exc}") from None
    if config.sts_endpoint:
        parts = urlsplit(config.sts_endpoint)
        if (
            parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.path not in ("", "/")
        ):
            raise BadRequest(
                "invalid alicloud mount config: sts_endpoint must be scheme://host[:port], "
                f"got {config.sts_endpoint!r}"
            )
    if config.connect_timeout <= 0 or config.timeout <= 0:
        raise BadRequest("invalid alicloud mount config: timeouts must be positive")
    if not 60 <= config.timestamp_window <= 3600:
        raise BadRequest(
            "invalid alicloud mount config: timestamp_window must be between 60 and 3600 seconds"
        )
    return config


def factory(ctx: BackendContext) -> Backend:
    config = parse_config(dict(ctx.config))
    http_client = make_http_client(
        connect_timeout=config.connect_timeout,
        timeout=config.timeout,
        proxy=config.proxy or None,
    )
    sts = StsClient(http_client, endpoint_override=config.sts_endpoint or None)
    roles = RoleStore(ctx.storage)
    nonces = NonceLedger(ctx.storage.sub("nonce/"))
    verifier = CallerVerifier(
        sts, nonces, ctx.clock, int(config.timestamp_window), telemetry=ctx.telemetry
    )
    login = LoginPaths(roles, verifier)

    async def forget_old_nonces() -> None:
        from datetime import UTC, datetime

        await nonces.sweep(datetime.fromtimestamp(ctx.clock.now(), UTC))

    return Backend(
        help=HELP,
        paths=[*RolePaths(roles).paths(), *login.paths()],
        unauthenticated=frozenset({"login"}),
        renew=login.renew,
        periodic=forget_old_nonces,
        close=http_client.close,
        faces={"infisical": AliCloudInfisical(verifier, ctx.logger)},
        resolve_role=_login_role,
    )


def _login_role(body: Mapping[str, Any]) -> str | None:
    """The role a login body names (role names are case-insensitive), for role quotas."""
    role = body.get("role")
    return (role.strip().lower() or None) if isinstance(role, str) else None


@contextlib.asynccontextmanager
async def dev_environment(server_url: str) -> AsyncIterator[DevEnvironment]:
    """`wardgate server --dev`: an STS emulator on loopback with a demo identity."""
    from plugins.alicloud.devserver import running_dev_emulator

    async with running_dev_emulator(server_url) as env:
        yield env


def _sts_emulator_command(argv: list[str]) -> int:
    # Imported when run: the emulator's HTTP server (Hypercorn) stays out of wardgate's server.
    from plugins.alicloud.cli import sts_emulator_command

    return sts_emulator_command(argv)


def register(registry: PluginRegistry) -> None:
    from plugins.alicloud.login import LOGIN_ARGS, login_payload_from_args

    registry.add(
        "alicloud",
        factory,
        description="Alibaba Cloud RAM identities (signed STS GetCallerIdentity)",
        login=login_payload_from_args,
        login_args=LOGIN_ARGS,
        infisical_method=AliCloudInfisical.slug,
        dev=dev_environment,
        commands={"sts-emulator": _sts_emulator_command},
    )
