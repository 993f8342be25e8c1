"""The client side of an AliCloud login: sign GetCallerIdentity and build Vault's login body.

Used by `wardgate login -method=alicloud role=R region=cn-hangzhou [access_key=...
secret_key=... security_token=...]` and by programs (`login()`). With no keys given, credentials
come from the Alibaba Cloud default chain (environment, profiles, ECS RAM role metadata,
OIDC/RRSA) through the `alibabacloud-credentials` package.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from plugins.alicloud.signer import sign_get_caller_identity


class LoginArgumentError(ValueError):
    """The login arguments are incomplete or contradictory; the message says what to give."""


async def login_payload(
    role: str,
    region: str,
    *,
    access_key: str | None = None,
    secret_key: str | None = None,
    security_token: str | None = None,
) -> dict[str, str]:
    """The JSON body for `POST auth/<mount>/login`, POST-signed for the regional STS host."""
    if not role:
        raise LoginArgumentError("role is required (role=<wardgate role name>)")
    if not region:
        raise LoginArgumentError(
            "region is required (region=<Alibaba Cloud region, e.g. cn-hangzhou>)"
        )
    if bool(access_key) != bool(secret_key):
        raise LoginArgumentError("access_key and secret_key go together")
    if security_token and not access_key:
        raise LoginArgumentError("security_token needs access_key and secret_key")
    if access_key and secret_key:
        key_id, secret, token = access_key, secret_key, security_token
    else:
        key_id, secret, token = await asyncio.to_thread(_default_credentials)
    signed = sign_get_caller_identity(key_id, secret, region=region, security_token=token or None)
    return {"role": role, **signed.login_data()}


def _default_credentials() -> tuple[str, str, str | None]:
    # Imported here: the package reads its environment variables at import time.
    from alibabacloud_credentials.client import Client  # type: ignore[import-untyped]

    try:
        credential = Client().get_credential()
    except Exception as exc:  # the chain raises plain exceptions of several kinds
        raise LoginArgumentError(
            "no Alibaba Cloud credentials found (give access_key= and secret_key=, or set up "
            f"the default credential chain): {exc}"
        ) from None
    if not credential.access_key_id or not credential.access_key_secret:
        raise LoginArgumentError("the default credential chain returned no access key")
    return credential.access_key_id, credential.access_key_secret, credential.security_token


async def login_payload_from_args(args: dict[str, str]) -> dict[str, Any]:
    """`wardgate login -method=alicloud k=v ...` (the plugin's CLI login helper; the CLI takes
    `mount=` itself, as it does for every method)."""
    known = {"role", "region", "access_key", "secret_key", "security_token"}
    unknown = sorted(set(args) - known)
    if unknown:
        raise LoginArgumentError(f"unknown login arguments: {', '.join(unknown)}")
    return await login_payload(
        args.get("role", ""),
        args.get("region", ""),
        access_key=args.get("access_key"),
        secret_key=args.get("secret_key"),
        security_token=args.get("security_token"),
    )


async def login(
    address: str,
    role: str,
    region: str,
    *,
    mount: str = "alicloud",
    access_key: str | None = None,
    secret_key: str | None = None,
    security_token: str | None = None,
    client: httpx.AsyncClient | None = None,
) -> dict[str, Any]:
    """Log in to a wardgate (or Vault) server; returns the `auth` block with the token."""
    body = await login_payload(
        role, region, access_key=access_key, secret_key=secret_key, security_token=security_token
    )
    url = f"{address.rstrip('/')}/v1/auth/{mount.strip('/')}/login"
    async with contextlib_client(client) as http:
        response = await http.post(url, json=body)
    payload: dict[str, Any] = response.json()
    if response.status_code != 200:
        errors = "; ".join(payload.get("errors", [])) or response.reason_phrase
        raise PermissionError(f"login failed ({response.status_code}): {errors}")
    auth: dict[str, Any] = payload["auth"]
    return auth


def contextlib_client(client: httpx.AsyncClient | None) -> Any:
    """Use the caller's client as is, or a short-lived one of our own."""
    import contextlib

    if client is not None:
        return contextlib.nullcontext(client)
    return httpx.AsyncClient(timeout=30)
