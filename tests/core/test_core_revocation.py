"""Revocation edges that need a hand on the clock or inside a plugin: a login that finishes
after its mount was disabled, and a revoke whose process died half way."""

from __future__ import annotations

import asyncio
from typing import Any

from core.framework import Backend, BackendContext, LoginAuth, Operation, Path, Request, Response
from core.registry import PluginRegistry
from core.tokens.revocation import RESUME_AFTER, mark_revoked
from tests.conftest import Server, ServerFactory


def _gated_login_registry(gate: asyncio.Event, entered: asyncio.Event) -> PluginRegistry:
    """A plugin whose login waits for `gate`, as a login waits for STS."""

    def factory(ctx: BackendContext) -> Backend:
        async def login(req: Request[Any]) -> Response:
            entered.set()
            await gate.wait()
            return Response(auth=LoginAuth(policies=["default"], display_name="slow", ttl=3600))

        return Backend(
            unauthenticated=frozenset({"login"}),
            paths=[Path("login", {Operation.UPDATE: login})],
        )

    registry = PluginRegistry()
    registry.add("slow", factory, description="a login that waits")
    return registry


async def test_login_finishing_after_its_mount_is_disabled_gets_no_token(
    server_factory: ServerFactory,
) -> None:
    gate, entered = asyncio.Event(), asyncio.Event()
    async with server_factory(registry=_gated_login_registry(gate, entered)) as srv:
        enabled = await srv.call("POST", "/v1/sys/auth/slow", json={"type": "slow"})
        assert enabled.status_code == 204, enabled.text
        login = asyncio.create_task(srv.call("POST", "/v1/auth/slow/login", token=None))
        await entered.wait()
        disabled = await srv.call("DELETE", "/v1/sys/auth/slow")
        assert disabled.status_code == 204
        gate.set()
        answer = await login
        # The login had passed every check before the disable: it gets no token.
        assert answer.status_code == 403, answer.text
        assert await srv.runtime.tokens.storage.list("id/") == [
            srv.runtime.tokens.hash("root-test")
        ]


async def test_tokens_of_a_mount_out_of_the_table_are_refused_at_once(
    server_factory: ServerFactory,
) -> None:
    """A process killed between taking the mount out of the table and revoking its tokens
    leaves them stored: they are refused all the same, by every endpoint that names them."""
    gate, entered = asyncio.Event(), asyncio.Event()
    gate.set()
    async with server_factory(registry=_gated_login_registry(gate, entered)) as srv:
        await srv.call("POST", "/v1/sys/auth/slow", json={"type": "slow"})
        answer = await srv.call("POST", "/v1/auth/slow/login", token=None)
        token = answer.json()["auth"]["client_token"]
        accessor = answer.json()["auth"]["accessor"]
        assert (await srv.call("GET", "/v1/auth/token/lookup-self", token=token)).status_code == 200
        await srv.runtime.mounts.disable("slow/")  # the table only, no revoke_mount
        me = await srv.call("GET", "/v1/auth/token/lookup-self", token=token)
        assert me.status_code == 403
        looked = await srv.call("POST", "/v1/auth/token/lookup", json={"token": token})
        assert looked.status_code == 403
        by_accessor = await srv.call(
            "POST", "/v1/auth/token/lookup-accessor", json={"accessor": accessor}
        )
        assert by_accessor.status_code == 400


async def _child(srv: Server, parent: str) -> str:
    made = await srv.call("POST", "/v1/auth/token/create", token=parent, json={"ttl": "1h"})
    assert made.status_code == 200, made.text
    token: str = made.json()["auth"]["client_token"]
    return token


async def test_revoke_killed_half_way_is_finished_by_the_sweeper(any_server: Server) -> None:
    srv = any_server
    parent = await _child(srv, srv.root_token)
    children = [await _child(srv, parent) for _ in range(3)]
    grandchild = await _child(srv, children[0])
    store = srv.runtime.tokens
    # The first step of a revoke, then the process "dies": only the mark and its record exist.
    await mark_revoked(store, store.hash(parent), queue="tree")
    me = await srv.call("GET", "/v1/auth/token/lookup-self", token=parent)
    assert me.status_code == 403  # refused from the mark on
    refused = await srv.call("POST", "/v1/auth/token/create", token=parent, json={})
    assert refused.status_code == 403  # and it can get no more children
    srv.clock.advance(RESUME_AFTER / 2)
    await store.sweep_expired()  # too young: another process may still be revoking it
    assert (
        await srv.call("GET", "/v1/auth/token/lookup-self", token=grandchild)
    ).status_code == 200
    srv.clock.advance(RESUME_AFTER)
    await store.sweep_expired()
    for token in [*children, grandchild]:
        answer = await srv.call("GET", "/v1/auth/token/lookup-self", token=token)
        assert answer.status_code == 403
    assert await store.storage.list("revoking/") == []
    assert await store.storage.list(f"parent/{store.hash(parent)}/") == []
