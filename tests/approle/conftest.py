"""An in-process server that knows the approle plugin, with `approle/` enabled."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from core.registry import PluginRegistry
from plugins.approle.backend import register
from tests.conftest import STORAGE_BACKENDS, Server, ServerFactory, backend_config


def approle_registry() -> PluginRegistry:
    registry = PluginRegistry()
    register(registry)
    return registry


async def enable(srv: Server, path: str = "approle", **options: Any) -> None:
    body: dict[str, Any] = {"type": "approle"}
    if options:
        body["options"] = options
    response = await srv.call("POST", f"/v1/sys/auth/{path}", json=body)
    assert response.status_code == 204, response.text


@pytest.fixture(params=STORAGE_BACKENDS)
async def srv(
    request: pytest.FixtureRequest, tmp_path: Path, server_factory: ServerFactory
) -> AsyncIterator[Server]:
    """AppRole mounted at approle/ on each storage backend."""
    config = await backend_config(request, request.param, tmp_path)
    async with server_factory(config, registry=approle_registry()) as server:
        await enable(server)
        yield server


async def make_role(srv: Server, name: str = "app", **fields: Any) -> str:
    """Create a role; returns its role ID."""
    response = await srv.call("POST", f"/v1/auth/approle/role/{name}", json=fields)
    assert response.status_code in (200, 204), response.text
    got = await srv.call("GET", f"/v1/auth/approle/role/{name}/role-id")
    role_id: str = got.json()["data"]["role_id"]
    return role_id


async def new_secret(srv: Server, name: str = "app", **fields: Any) -> dict[str, Any]:
    response = await srv.call("POST", f"/v1/auth/approle/role/{name}/secret-id", json=fields)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def login(srv: Server, role_id: str, secret_id: str | None, **kw: Any) -> Any:
    body: dict[str, Any] = {"role_id": role_id}
    if secret_id is not None:
        body["secret_id"] = secret_id
    return await srv.call("POST", "/v1/auth/approle/login", json=body, token=None, **kw)
