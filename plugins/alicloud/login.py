"""The client side of an AliCloud login: sign GetCallerIdentity and build Vault's login body.

Used by `wardgate login -method=alicloud role=R region=cn-hangzhou [access_key=...
secret_key=... security_token=...]`, by `wardgate agent` (whose Vault Agent config names
arrive here too: `access_secret`, `access_token`), and by programs (`login()`). With no keys
given, credentials come from the Alibaba Cloud default chain (see credentials.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from plugins.alicloud.credentials import CredentialsError, CredentialSource, resolve
from plugins.alicloud.signer import (
    STS_API_VERSION,
    format_timestamp,
    sign,
    sign_get_caller_identity,
)

if TYPE_CHECKING:
    import httpx

# What `wardgate login -method=alicloud` and an agent's `method "alicloud"` config take; listed
# by `wardgate login -h`.
LOGIN_ARGS: dict[str, str] = {
    "role": "the wardgate role to log in with (required)",
    "region": "Alibaba Cloud region whose STS endpoint is signed for, e.g. cn-hangzhou (required)",
    "access_key": "AccessKey ID (default: the credential chain)",
    "secret_key": "AccessKey secret",
    "access_secret": "the same as secret_key (the name Vault Agent's config reads)",
    "security_token": "STS security token of temporary keys",
    "access_token": "the same as security_token (Vault Agent's name)",
    "role_arn": "assume this RAM role with the keys first (with role_session_name)",
    "role_session_name": "session name when assuming role_arn (default wardgate)",
    "role_name": "the ECS instance's RAM role, read from instance metadata",
    "credential_poll_interval": "Vault Agent key, accepted: credentials are read at every login",
    "identity_id": "log in as this machine identity through the Infisical API instead of a role",
}
_ALIASES = {"access_secret": "secret_key", "access_token": "security_token"}


class LoginArgumentError(ValueError):
    """The login arguments are incomplete or contradictory; the message says what to give."""


async def login_payload(
    role: str,
    region: str,
    *,
    access_key: str | None = None,
    secret_key: str | None = None,
    security_token: str | None = None,
    role_arn: str | None = None,
    role_session_name: str | None = None,
    role_name: str | None = None,
) -> dict[str, str]:
    """The JSON body for `POST auth/<mount>/login`, POST-signed for the regional STS host."""
    if not role:
        raise LoginArgumentError("role is required (role=<wardgate role name>)")
    if not region:
        raise LoginArgumentError(
            "region is required (region=<Alibaba Cloud region, e.g. cn-hangzhou>)"
        )
    key_id, secret, token = await _credentials(
        access_key, secret_key, security_token, role_arn, role_session_name, role_name
    )
    signed = sign_get_caller_identity(key_id, secret, region=region, security_token=token or None)
    return {"role": role, **signed.login_data()}


async def infisical_login_payload(
    identity_id: str,
    *,
    access_key: str | None = None,
    secret_key: str | None = None,
    security_token: str | None = None,
    role_arn: str | None = None,
    role_session_name: str | None = None,
    role_name: str | None = None,
) -> dict[str, str]:
    """The JSON body for `POST /api/v1/auth/alicloud-auth/login`: the signed parameters as
    Infisical's docs build them (signed for GET, the global STS host), plus `SecurityToken`
    with temporary keys."""
    if not identity_id:
        raise LoginArgumentError("identity_id is required")
    key_id, secret, token = await _credentials(
        access_key, secret_key, security_token, role_arn, role_session_name, role_name
    )
    params = {
        "Action": "GetCallerIdentity",
        "Format": "JSON",
        "Version": STS_API_VERSION,
        "AccessKeyId": key_id,
        "SignatureMethod": "HMAC-SHA1",
        "Timestamp": format_timestamp(datetime.now(UTC)),
        "SignatureVersion": "1.0",
        "SignatureNonce": secrets.token_hex(16),
    }
    if token:
        params["SecurityToken"] = token
    return {"identityId": identity_id, "Signature": sign("GET", params, secret), **params}


async def _credentials(
    access_key: str | None,
    secret_key: str | None,
    security_token: str | None,
    role_arn: str | None,
    role_session_name: str | None,
    role_name: str | None,
) -> tuple[str, str, str | None]:
    """The keys given, or those the credential chain (or an AssumeRole) provides."""
    if bool(access_key) != bool(secret_key):
        raise LoginArgumentError("access_key and secret_key go together")
    if security_token and not access_key:
        raise LoginArgumentError("security_token needs access_key and secret_key")
    if access_key and secret_key and not role_arn:
        return access_key, secret_key, security_token
    source = CredentialSource(
        access_key, secret_key, security_token, role_arn, role_session_name, role_name
    )
    try:
        found = await asyncio.to_thread(resolve, source)
    except CredentialsError as exc:
        raise LoginArgumentError(str(exc)) from None
    return found.access_key_id, found.access_key_secret, found.security_token


async def login_payload_from_args(args: dict[str, str]) -> dict[str, Any]:
    """The plugin's login helper (`wardgate login -method=alicloud k=v ...`, `wardgate agent`;
    both take the mount themselves)."""
    given = {_ALIASES.get(k, k): v for k, v in args.items()}
    if len(given) != len(args):
        raise LoginArgumentError(
            "give secret_key or access_secret, security_token or access_token, not both"
        )
    unknown = sorted(set(args) - set(LOGIN_ARGS))
    if unknown:
        raise LoginArgumentError(f"unknown login argument(s): {', '.join(unknown)}")
    poll = given.pop("credential_poll_interval", "60")
    if not str(poll).isdigit() or int(poll) <= 0:
        raise LoginArgumentError(
            f"credential_poll_interval must be a positive number of seconds, not {poll!r}"
        )
    keys = {
        k: given.get(k) or None
        for k in (
            "access_key",
            "secret_key",
            "security_token",
            "role_arn",
            "role_session_name",
            "role_name",
        )
    }
    if "identity_id" in given:
        if given.get("role"):
            raise LoginArgumentError(
                "give role (Vault's API) or identity_id (Infisical's), not both"
            )
        return await infisical_login_payload(given["identity_id"], **keys)
    return await login_payload(
        given.get("role", ""),
        given.get("region", ""),
        **{
            k: given.get(k) or None
            for k in (
                "access_key",
                "secret_key",
                "security_token",
                "role_arn",
                "role_session_name",
                "role_name",
            )
        },
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
    if client is not None:
        return contextlib.nullcontext(client)
    import httpx  # here: the server registers this plugin and never logs in itself

    return httpx.AsyncClient(timeout=30)
