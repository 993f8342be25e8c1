"""The agent's two calls to the server, over HTTP only: a method's login and the renewal of its
token, through Vault's API (`<mount>/login`, `auth/token/renew-self`) or, for a login body
that names an Infisical machine identity, Infisical's (`/api/v1/auth/<method>/login`,
`/api/v1/auth/token/renew`). Errors are sorted into refusals (the server said no: log in
again) and unavailability (try later)."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any

import httpx

from core.agent.config import ServerSettings

TIMEOUT = httpx.Timeout(15.0, connect=5.0)
USER_AGENT = "wardgate-agent"


class ServerRefused(Exception):
    """4xx: the login or the renewal is refused (bad role, revoked token, ...)."""


class ServerUnavailable(Exception):
    """No answer, a connection error or a 5xx: worth trying again later."""


@dataclass(frozen=True, slots=True)
class Lease:
    token: str
    accessor: str
    duration: int  # seconds; 0 = never expires
    renewable: bool
    infisical: bool = False  # renewed through Infisical's API (which may return a new token)


def make_http_client(server: ServerSettings) -> httpx.AsyncClient:
    verify: bool | ssl.SSLContext = not server.tls_skip_verify
    if verify and server.ca_cert:
        verify = ssl.create_default_context(cafile=server.ca_cert)
    return httpx.AsyncClient(
        base_url=server.address, verify=verify, timeout=TIMEOUT, headers={"User-Agent": USER_AGENT}
    )


async def login(
    http: httpx.AsyncClient, mount_path: str, body: dict[str, Any], infisical_method: str = ""
) -> Lease:
    if infisical_method and "identityId" in body:
        path = f"/api/v1/auth/{infisical_method}/login"
        return _infisical_lease(await _send(http, "POST", path, body, token=None))
    response = await _send(http, "PUT", f"/v1/{mount_path}/login", body, token=None)
    return _lease(response, what="login")


async def renew(http: httpx.AsyncClient, lease: Lease) -> Lease:
    if lease.infisical:
        body = {"accessToken": lease.token}
        return _infisical_lease(await _send(http, "POST", "/api/v1/auth/token/renew", body, None))
    response = await _send(http, "PUT", "/v1/auth/token/renew-self", {}, token=lease.token)
    return _lease(response, what="renewal")


async def _send(
    http: httpx.AsyncClient, method: str, path: str, body: dict[str, Any], token: str | None
) -> dict[str, Any]:
    headers = {"X-Vault-Token": token} if token else {}
    try:
        response = await http.request(method, path, json=body, headers=headers)
    except httpx.HTTPError as exc:
        reason = str(exc).split("\n")[0] or type(exc).__name__
        raise ServerUnavailable(f"{path}: {reason}") from None
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        payload = {}
    if response.status_code >= 500 or response.status_code == 429:
        raise ServerUnavailable(f"{path}: {response.status_code} {_errors(payload)}")
    if response.status_code >= 400:
        raise ServerRefused(f"{path}: {response.status_code} {_errors(payload)}")
    return payload


def _errors(payload: dict[str, Any]) -> str:
    errors = payload.get("errors")  # Vault's form; Infisical's is {"message": ...}
    text = "; ".join(str(e) for e in errors) if isinstance(errors, list) else ""
    text = text or str(payload.get("message") or "")
    return " ".join(text.split()) or "(no message)"


def _infisical_lease(payload: dict[str, Any]) -> Lease:
    token = payload.get("accessToken")
    if not isinstance(token, str) or not token:
        raise ServerUnavailable("the Infisical response has no accessToken")
    return Lease(token, "", int(payload.get("expiresIn") or 0), True, infisical=True)


def _lease(payload: dict[str, Any], what: str) -> Lease:
    auth = payload.get("auth")
    if not isinstance(auth, dict) or not auth.get("client_token"):
        raise ServerUnavailable(f"the {what} response has no token")
    return Lease(
        token=str(auth["client_token"]),
        accessor=str(auth.get("accessor") or ""),
        duration=int(auth.get("lease_duration") or 0),
        renewable=bool(auth.get("renewable")),
    )
