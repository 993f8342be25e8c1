"""Alibaba Cloud credentials for a login: given keys, an assumed RAM role, an ECS instance's RAM
role, or the default chain (environment, profile files, ECS metadata, RRSA OIDC token file), all
through `alibabacloud-credentials`. A new provider is built for every login, so credentials that
rotate (ECS roles hourly, a rewritten profile file) are picked up without a restart."""

from __future__ import annotations

import logging
from dataclasses import dataclass


class CredentialsError(ValueError):
    """No usable credentials; the message says what was tried, in one line."""


@dataclass(frozen=True, slots=True)
class CredentialSource:
    access_key: str | None = None
    secret_key: str | None = None
    security_token: str | None = None
    role_arn: str | None = None
    role_session_name: str | None = None
    role_name: str | None = None


@dataclass(frozen=True, slots=True)
class Credentials:
    access_key_id: str
    access_key_secret: str
    security_token: str | None


def _quiet_library() -> None:
    # On import, the library gives its "credentials" logger its own stderr handler and logs
    # every failed provider there with a traceback. The failure is reported once, by us; the
    # detail reaches wardgate's own handlers only at debug level.
    logger = logging.getLogger("credentials")
    logger.handlers = [logging.NullHandler()]
    logger.propagate = logging.getLogger("wardgate").isEnabledFor(logging.DEBUG)


def resolve(source: CredentialSource) -> Credentials:
    """Blocking (may call ECS metadata or STS): run it in a thread from async code."""
    # Imported here: the package reads its environment variables at import time.
    from alibabacloud_credentials.client import Client  # type: ignore[import-untyped]
    from alibabacloud_credentials.models import Config  # type: ignore[import-untyped]

    _quiet_library()

    config, what = _config(source, Config)
    try:
        credential = (Client(config) if config is not None else Client()).get_credential()
    except Exception as exc:  # the library raises plain exceptions of several kinds
        raise CredentialsError(
            f"no Alibaba Cloud credentials from {what} (give access_key= and secret_key=, or "
            f"set up one of these): {_one_line(exc)}"
        ) from None
    if not credential.access_key_id or not credential.access_key_secret:
        raise CredentialsError(f"no Alibaba Cloud credentials from {what}: no access key")
    return Credentials(
        credential.access_key_id, credential.access_key_secret, credential.security_token or None
    )


def _config(source: CredentialSource, config_type: type) -> tuple[object | None, str]:
    keys = bool(source.access_key and source.secret_key)
    if source.role_arn:
        if not keys:
            raise CredentialsError("role_arn needs access_key and secret_key to assume it with")
        return config_type(
            type="ram_role_arn",
            access_key_id=source.access_key,
            access_key_secret=source.secret_key,
            security_token=source.security_token,
            role_arn=source.role_arn,
            role_session_name=source.role_session_name or "wardgate",
        ), f"assuming {source.role_arn}"
    if keys:
        kind = "sts" if source.security_token else "access_key"
        return config_type(
            type=kind,
            access_key_id=source.access_key,
            access_key_secret=source.secret_key,
            security_token=source.security_token,
        ), "the given keys"
    if source.role_name:
        return config_type(
            type="ecs_ram_role", role_name=source.role_name
        ), f"the ECS RAM role {source.role_name}"
    return None, "the default chain"


def _one_line(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    prefix = "unable to load credentials from any of the providers in the chain: "
    return text.removeprefix(prefix)[:600] or type(exc).__name__
