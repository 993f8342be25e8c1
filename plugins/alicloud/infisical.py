"""The AliCloud method on the Infisical face: `alicloud-auth` (spec infisical-alicloud.md).

It translates only: the login body is checked as Infisical's router checks it (422 issues),
then the signed parameters go through the same `CallerVerifier` as a Vault-face login (local
checks, timestamp window, nonce, STS replay with GET), the caller is matched with
`plugins.alicloud.arn`, and the face issues the token. STS outcomes become Infisical-shaped
errors here, by class and STS Code, never echoing STS's message.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from core.framework.errors import UpstreamError, UpstreamTimeout
from core.framework.infisical import (
    IP_MESSAGE,
    BadGatewayError,
    BadRequestError,
    FaceRequest,
    FaceServices,
    ForbiddenError,
    GatewayTimeoutError,
    InfisicalAuthMethod,
    Issues,
    LoginGrant,
    NotFoundError,
    RateLimitError,
    UnauthorizedError,
    enum,
    string,
)
from core.framework.network import ip_allowed
from plugins.alicloud.arn import AllowedArn, allowed, parse_allowed_arn, parse_caller
from plugins.alicloud.nonce import NonceReused
from plugins.alicloud.payload import url_from_signed_params
from plugins.alicloud.sts import CallerIdentity, StsDenied, StsInvalid
from plugins.alicloud.sts_validate import TimestampOutsideWindow
from plugins.alicloud.verify import CallerVerifier

ARN_NOT_ALLOWED = "Access denied: Alibaba Cloud account ARN not allowed."
MAX_ARNS_CHARS = 500

# The parameters the client signed, forwarded to STS; nothing else of the body is.
_SIGNED = (
    "Action",
    "Format",
    "Version",
    "AccessKeyId",
    "SignatureMethod",
    "Timestamp",
    "SignatureVersion",
    "SignatureNonce",
    "Signature",
    "SecurityToken",
)
_VERSION_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Infisical: `^[A-Za-z0-9]+$`; wardgate also takes temporary (`STS.`) keys.
_ACCESS_KEY_RE = re.compile(r"^(STS\.)?[A-Za-z0-9]+$")
_TIMESTAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
_NONCE_RE = re.compile(r"^[a-zA-Z0-9\-_.]+$")
_SIGNATURE_RE = re.compile(r"^[A-Za-z0-9+/=]+$")
_SLUG_RE = re.compile(r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$")
_TOKEN_RE = re.compile(r"^[!-~]+$")

# STS Codes that mean "this signed request does not prove an identity" (401).
_UNAUTHORIZED_CODES = (
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "InvalidAccessKeyId",
    "InvalidSecurityToken",
    "MissingSecurityToken",
    "SignatureNonceUsed",
    "InvalidTimeStamp",
    "IllegalTimestamp",
    "Forbidden",
)


class AliCloudInfisical(InfisicalAuthMethod):
    slug = "alicloud-auth"
    config_key = "identityAliCloudAuth"
    label = "Alibaba Cloud Auth"
    default_mount = "alicloud"

    def __init__(self, verifier: CallerVerifier, logger: logging.Logger) -> None:
        self._verifier = verifier
        self._log = logger

    # -- config ----------------------------------------------------------------------------------

    def parse_config(
        self, body: Mapping[str, Any], issues: Issues, *, attach: bool
    ) -> dict[str, Any]:
        text = string(
            body,
            "allowedArns",
            issues,
            required=attach,
            min_length=1,
            max_length=MAX_ARNS_CHARS,
            min_message="Allowed ARNs required",
            max_message=f"Input exceeds the maximum limit of {MAX_ARNS_CHARS} characters",
        )
        if text is None:
            return {}
        entries = [part.strip() for part in text.split(",") if part.strip()]
        if not entries:
            # Infisical stores "" for "," and then lets any account in; never here.
            issues.add(["allowedArns"], "custom", "At least one ARN is required")
            return {}
        try:
            for entry in entries:
                parse_allowed_arn(entry)
        except ValueError:
            issues.add(["allowedArns"], "custom", "One or more ARNs are invalid")
            return {}
        return {"allowedArns": ", ".join(entries)}

    def render_config(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        return {"type": "iam", "allowedArns": fields.get("allowedArns", "")}

    # -- login -----------------------------------------------------------------------------------

    async def login(self, req: FaceRequest, services: FaceServices) -> LoginGrant:
        identity_id, params = _parse_login(req.body)
        config = await services.configs.get(self.slug, identity_id)
        if config is None:
            raise NotFoundError(
                "Alibaba Cloud auth method not found for identity, "
                "did you configure Alibaba Cloud auth?"
            )
        entries = [parse_allowed_arn(e.strip()) for e in config.fields["allowedArns"].split(",")]
        # Infisical signs for its fixed global endpoint; only the signed parameters go.
        url = url_from_signed_params(params)

        def from_trusted_ip() -> None:
            # A token that could not be used from here is not issued (checked before STS).
            if not ip_allowed(req.client_ip, config.accessTokenTrustedIps):
                raise ForbiddenError(IP_MESSAGE, log_detail=f"login from {req.client_ip}")

        caller = await self._prove(url, from_trusted_ip)
        if not _admitted(entries, caller):
            raise UnauthorizedError(
                ARN_NOT_ALLOWED, log_detail=f"caller {caller.Arn} vs {config.fields['allowedArns']}"
            )
        metadata = {
            "account_id": caller.AccountId,
            "arn": caller.Arn,
            "identity_type": caller.IdentityType,
            "principal_id": caller.PrincipalId,
            "request_id": caller.RequestId,
            "role_id": caller.RoleId,
            "user_id": caller.UserId,
        }
        return LoginGrant(config, metadata=metadata, display_name=caller.PrincipalId)

    async def _prove(self, url: str, precheck: Any) -> CallerIdentity:
        """The shared verifier, its refusals in Infisical's terms (spec §10, STS mapping)."""
        try:
            return await self._verifier.verify(url, "GET", [], before_sts=precheck)
        except (TimestampOutsideWindow, NonceReused) as exc:
            raise UnauthorizedError(exc.message, log_detail=exc.log_detail) from None
        except (StsDenied, StsInvalid) as exc:
            if exc.code.startswith("Throttling"):
                raise RateLimitError(
                    "Alibaba Cloud STS throttled the request", log_detail=exc.log_detail
                ) from None
            if exc.code.startswith(_UNAUTHORIZED_CODES):
                raise UnauthorizedError(
                    f"Alibaba Cloud rejected the signed request ({exc.code})",
                    log_detail=exc.log_detail,
                ) from None
            raise BadRequestError(
                f"Invalid GetCallerIdentity request ({exc.code})", log_detail=exc.log_detail
            ) from None
        except UpstreamTimeout as exc:
            raise GatewayTimeoutError(
                "Alibaba Cloud STS unavailable", log_detail=f"{exc.message}: {exc.log_detail}"
            ) from None
        except UpstreamError as exc:
            raise BadGatewayError(
                "Alibaba Cloud STS unavailable", log_detail=f"{exc.message}: {exc.log_detail}"
            ) from None


def _admitted(entries: list[AllowedArn], caller: CallerIdentity) -> bool:
    try:
        return allowed(entries, parse_caller(caller.Arn))
    except ValueError:
        return False


def _parse_login(body: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    """Infisical's login schema (§3.1) plus `SecurityToken`; all issues in one 422."""
    issues = Issues()
    identity_id = string(body, "identityId", issues)
    values: dict[str, str | None] = {
        "Action": enum(body, "Action", ["GetCallerIdentity"], issues),
        "Format": enum(body, "Format", ["JSON"], issues),
        "Version": _custom(
            body, "Version", _VERSION_RE, "Version must be in YYYY-MM-DD format", issues
        ),
        "AccessKeyId": _custom(
            body, "AccessKeyId", _ACCESS_KEY_RE, "AccessKeyId must be alphanumeric", issues
        ),
        "SignatureMethod": enum(body, "SignatureMethod", ["HMAC-SHA1"], issues),
        "Timestamp": _custom(
            body,
            "Timestamp",
            _TIMESTAMP_RE,
            "Timestamp must be in YYYY-MM-DDTHH:mm:ssZ format",
            issues,
        ),
        "SignatureVersion": enum(body, "SignatureVersion", ["1.0"], issues),
        "SignatureNonce": _custom(
            body,
            "SignatureNonce",
            _NONCE_RE,
            "SignatureNonce must be at least 1 character long and contain only URL-safe "
            "characters (alphanumeric, -, _, .)",
            issues,
        ),
        "Signature": _custom(
            body, "Signature", _SIGNATURE_RE, "Signature must be base64 characters", issues
        ),
        "SecurityToken": string(
            body,
            "SecurityToken",
            issues,
            required=False,
            min_length=1,
            max_length=4096,
            pattern=_TOKEN_RE,
            pattern_message="SecurityToken must be printable ASCII",
        ),
    }
    for name in ("organizationSlug", "subOrganizationName"):
        # Accepted as Infisical does, never forwarded (wardgate has one organization).
        string(
            body,
            name,
            issues,
            required=False,
            min_length=1,
            max_length=64,
            pattern=_SLUG_RE,
            pattern_message=f"{name} must be a valid slug",
        )
    key = values["AccessKeyId"]
    if key is not None and key.startswith("STS.") and values["SecurityToken"] is None:
        issues.add(
            ["SecurityToken"],
            "custom",
            "SecurityToken is required with temporary (STS.) credentials",
        )
    issues.raise_if_any()
    assert identity_id is not None
    params = {name: value for name, value in values.items() if value is not None}
    return identity_id, {name: params[name] for name in _SIGNED if name in params}


def _custom(
    body: Mapping[str, Any], key: str, pattern: re.Pattern[str], message: str, issues: Issues
) -> str | None:
    """A required string checked by a refine (zod `custom` issue, as Infisical's 422s show)."""
    value = body.get(key)
    if not isinstance(value, str):
        return string(body, key, issues)  # records the type issue
    if not pattern.fullmatch(value):
        issues.add([key], "custom", message)
        return None
    return value
