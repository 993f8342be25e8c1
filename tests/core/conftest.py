"""A tiny auth plugin written only against `core.framework`, the way a real plugin is.

It proves the plugin interface end to end: paths served under `/v1/auth/<mount>/...`, a storage
view per mount, an unauthenticated login path whose LoginAuth the core turns into a token, and a
renew hook the core calls when such a token is renewed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pytest

from core.framework import (
    Backend,
    BackendContext,
    BadRequest,
    CommaList,
    DurationSeconds,
    LoginAuth,
    Operation,
    Path,
    RenewRequest,
    Request,
    Response,
    WeakStr,
)
from core.registry import PluginRegistry

PLUGIN_TYPE = "testkv"


class ItemInput(msgspec.Struct, kw_only=True):
    value: WeakStr = WeakStr("")
    ttl: DurationSeconds = DurationSeconds(0)
    count: int = 0


class LoginInput(msgspec.Struct, kw_only=True):
    name: WeakStr = WeakStr("")
    policies: CommaList = msgspec.field(default_factory=CommaList)
    ttl: DurationSeconds = DurationSeconds(0)
    max_ttl: DurationSeconds = DurationSeconds(0)
    period: DurationSeconds = DurationSeconds(0)
    explicit_max_ttl: DurationSeconds = DurationSeconds(0)
    num_uses: int = 0
    bound_cidrs: CommaList = msgspec.field(default_factory=CommaList)
    token_type: WeakStr = WeakStr("default")
    no_default_policy: bool = False
    metadata: dict[str, str] = msgspec.field(default_factory=dict)


@dataclass
class PluginProbe:
    """What the plugin saw, and how its renew hook should behave next."""

    contexts: list[BackendContext] = field(default_factory=list)
    renew_calls: list[RenewRequest] = field(default_factory=list)
    renew_error: Exception | None = None
    renew_ttl: int | None = None  # the TTL the "role" hands back on renewal
    closed: int = 0  # how many of its backends the core has closed


def make_factory(probe: PluginProbe) -> Any:
    def factory(ctx: BackendContext) -> Backend:
        probe.contexts.append(ctx)
        return _backend(ctx, probe)

    return factory


def _backend(ctx: BackendContext, probe: PluginProbe) -> Backend:
    store = ctx.storage

    async def read_item(req: Request[ItemInput]) -> Response | None:
        raw = await store.get("item/" + req.captures["name"])
        return None if raw is None else Response(data=msgspec.json.decode(raw))

    async def write_item(req: Request[ItemInput]) -> None:
        data = {"value": str(req.data.value), "ttl": int(req.data.ttl), "count": req.data.count}
        await store.put("item/" + req.captures["name"], msgspec.json.encode(data))

    async def delete_item(req: Request[ItemInput]) -> None:
        await store.delete("item/" + req.captures["name"])

    async def list_items(req: Request[Any]) -> Response | None:
        keys = await store.list("item/")
        return Response(data={"keys": keys}) if keys else None

    async def info(req: Request[Any]) -> Response:
        mount = req.mount
        return Response(
            data={
                "path": mount.path,
                "type": mount.type,
                "default_lease_ttl": mount.default_lease_ttl,
                "max_lease_ttl": mount.max_lease_ttl,
                "config": dict(ctx.config),
            }
        )

    async def login(req: Request[LoginInput]) -> Response:
        data = req.data
        if not data.name:
            raise BadRequest("missing name")
        auth = LoginAuth(
            policies=list(data.policies),
            metadata={"name": str(data.name), **data.metadata},
            display_name=str(data.name),
            ttl=data.ttl,
            max_ttl=data.max_ttl,
            period=data.period,
            explicit_max_ttl=data.explicit_max_ttl,
            num_uses=data.num_uses,
            bound_cidrs=list(data.bound_cidrs),
            token_type=str(data.token_type),
            no_default_policy=data.no_default_policy,
            internal={"name": str(data.name)},
        )
        return Response(auth=auth)

    async def renew(req: RenewRequest) -> LoginAuth:
        probe.renew_calls.append(req)
        if probe.renew_error is not None:
            raise probe.renew_error
        ttl = req.auth.ttl if probe.renew_ttl is None else probe.renew_ttl
        return msgspec.structs.replace(req.auth, ttl=ttl)

    async def close() -> None:
        probe.closed += 1

    item_ops = {
        Operation.READ: read_item,
        Operation.UPDATE: write_item,
        Operation.DELETE: delete_item,
    }
    return Backend(
        help="A test plugin.",
        unauthenticated=frozenset({"login"}),
        renew=renew,
        close=close,
        paths=[
            Path("login", {Operation.UPDATE: login}, LoginInput, synopsis="Log in by name."),
            Path("info", {Operation.READ: info}, synopsis="Where am I mounted?"),
            Path("item/", {Operation.LIST: list_items}, synopsis="List items."),
            Path(
                "item/{name}",
                item_ops,
                ItemInput,
                synopsis="One item.",
                description="Items are kept in the mount's own storage.",
            ),
        ],
    )


@pytest.fixture
def probe() -> PluginProbe:
    return PluginProbe()


@pytest.fixture
def plugin_registry(probe: PluginProbe) -> PluginRegistry:
    registry = PluginRegistry()
    registry.add(PLUGIN_TYPE, make_factory(probe), description="test plugin")
    return registry


@pytest.fixture
async def psrv(server_factory: Any, plugin_registry: PluginRegistry) -> AsyncIterator[Any]:
    """A memory-backed server that knows the `testkv` plugin type (nothing mounted yet)."""
    async with server_factory(registry=plugin_registry) as srv:
        yield srv
