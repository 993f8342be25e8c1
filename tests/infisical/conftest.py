"""An in-process server with the test passphrase method mounted, and Infisical-face helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.config import AuthMountConfig, Config, StorageConfig
from tests.conftest import (
    ROOT_TOKEN,
    STORAGE_BACKENDS,
    FakeClock,
    Server,
    backend_config,
    start_server,
)
from tests.infisical.fake_method import registry

ERROR_KEYS = ["reqId", "statusCode", "message", "error"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_error(response: httpx.Response, status: int, name: str) -> Any:
    """Infisical's error body, key order included; returns its message."""
    assert response.status_code == status, response.text
    body = response.json()
    assert list(body) == ERROR_KEYS, body
    assert body["statusCode"] == status and body["error"] == name, body
    assert body["reqId"].startswith("req-") and len(body["reqId"]) == 18
    return body["message"]


class Face:
    """Calls to /api/v1/ as root (or as `token`)."""

    def __init__(self, server: Server) -> None:
        self.server = server

    async def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = ROOT_TOKEN,
        json: Any = None,
        client: httpx.AsyncClient | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        headers = bearer(token) if token else {}
        return await (client or self.server.client).request(
            method, "/api/v1/" + path, json=json, headers=headers, **kwargs
        )

    async def identity(self, **body: Any) -> dict[str, Any]:
        response = await self.call("POST", "identities", json={"name": "ci", **body})
        assert response.status_code == 200, response.text
        identity: dict[str, Any] = response.json()["identity"]
        return identity


def passphrase_config(storage: StorageConfig | None = None) -> Config:
    config = Config(storage=storage or StorageConfig(backend="memory"))
    config.auth.append(AuthMountConfig(path="passphrase", type="passphrase"))
    return config


@pytest.fixture(params=STORAGE_BACKENDS)
async def face(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Face]:
    """The face on each storage backend: identities and configs live in the one storage."""
    config = await backend_config(request, request.param, tmp_path)
    config.auth.append(AuthMountConfig(path="passphrase", type="passphrase"))
    async with start_server(config, registry=registry(), clock=FakeClock()) as srv:
        yield Face(srv)
