"""A tiny Vault-API client for setting up the benchmark objects (not used under load)."""

from __future__ import annotations

import time
from typing import Any

import httpx


class ApiError(Exception):
    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        super().__init__(f"{method} /v1/{path} -> {status}: {body[:500]}")
        self.status = status


class Api:
    def __init__(self, base_url: str, token: str = "") -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self._client = httpx.Client(base_url=self.base_url, timeout=30.0, trust_env=False)

    def close(self) -> None:
        self._client.close()

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = None,
        ok: tuple[int, ...] = (200, 204),
    ) -> Any:
        """Send one request; returns the decoded JSON body (None for 204). Raises ApiError
        unless the status is in `ok`."""
        headers = {}
        use = self.token if token is None else token
        if use:
            headers["X-Vault-Token"] = use
        response = self._client.request(method, "/v1/" + path, json=body, headers=headers)
        if response.status_code not in ok:
            raise ApiError(method, path, response.status_code, response.text)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def status(self, method: str, path: str, body: Any = None, *, token: str | None = None) -> int:
        headers = {}
        use = self.token if token is None else token
        if use:
            headers["X-Vault-Token"] = use
        response = self._client.request(method, "/v1/" + path, json=body, headers=headers)
        return response.status_code

    def wait_healthy(self, timeout: float, ok: tuple[int, ...] = (200,)) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            try:
                response = self._client.get("/v1/sys/health")
                if response.status_code in ok:
                    return
                last = f"{response.status_code} {response.text[:200]}"
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.1)
        raise TimeoutError(f"{self.base_url}/v1/sys/health not ready after {timeout:.0f} s: {last}")
