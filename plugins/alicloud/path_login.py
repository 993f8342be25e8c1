"""`login`: prove an Alibaba Cloud identity with a signed STS GetCallerIdentity request.

Order matters for safety: everything about the request that can be checked locally (payload
shape, URL allow-list, timestamp, nonce) is checked before the one outbound request to STS. The
role (existence, bound CIDRs, binding) is checked after it, and every role failure gives the
same answer, so the login path does not tell an unauthenticated caller which roles exist.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import UNSET, UnsetType

from core.framework import (
    BadRequest,
    LoginAuth,
    LowerStr,
    Operation,
    Path,
    PermissionDenied,
    RenewRequest,
    Request,
    Response,
    WeakStr,
)
from core.framework.infisical import IDENTITY_MARK
from core.framework.network import ip_allowed
from core.framework.token_fields import login_auth
from plugins.alicloud.arn import matches, parse_caller, parse_role_binding
from plugins.alicloud.payload import (
    MAX_HEADERS,
    MAX_HEADERS_TEXT,
    MAX_URL_BASE64,
    OPTIONAL_SIGNED_PARAMS,
    REQUIRED_SIGNED_PARAMS,
    decode_identity_request_headers,
    decode_identity_request_url,
    url_from_signed_params,
)
from plugins.alicloud.role import Role, RoleStore
from plugins.alicloud.signer import REGION_RE
from plugins.alicloud.sts import CallerIdentity
from plugins.alicloud.verify import CallerVerifier

# The signed-parameter form some other products' clients send instead of a base64 URL.
SIGNED_PARAMS = REQUIRED_SIGNED_PARAMS + OPTIONAL_SIGNED_PARAMS


# The document's view of the login fields payload.py checks by hand (with its own messages,
# naming the field): msgspec takes them as they come.
_URL = msgspec.Meta(
    extra_json_schema={
        "type": "string",
        "format": "byte",
        "maxLength": MAX_URL_BASE64,
        "description": "base64 of the signed GetCallerIdentity URL",
    }
)
_HEADERS = msgspec.Meta(
    extra_json_schema={
        # Each applies to its own form only (JSON Schema), as decode_identity_request_headers
        # checks them; the 16 KiB total is checked on top.
        "maxProperties": MAX_HEADERS,
        "maxItems": MAX_HEADERS,
        "maxLength": MAX_HEADERS_TEXT,
        "description": "the signed request's headers: an object, a list of `Key: Value` "
        "strings, or base64/JSON text of either",
    }
)
_SIGNED_PARAM_SCHEMAS = {
    # signer.REGION_RE, as url_from_signed_params enforces it.
    "RegionId": Annotated[WeakStr, msgspec.Meta(extra_json_schema={"pattern": REGION_RE.pattern})]
}


class _VaultLoginFields(msgspec.Struct, kw_only=True):
    role: LowerStr | UnsetType = UNSET
    identity_request_url: Annotated[Any, _URL] = None
    identity_request_headers: Annotated[Any, _HEADERS] = None


# Vault's fields plus one optional string field per signed parameter, built from the one list
# of signed parameters in payload.py.
LoginInput = msgspec.defstruct(
    "LoginInput",
    [(name, _SIGNED_PARAM_SCHEMAS.get(name, WeakStr) | UnsetType, UNSET) for name in SIGNED_PARAMS],
    bases=(_VaultLoginFields,),
    kw_only=True,
)


LOGIN_HELP = """Log in with a signed STS GetCallerIdentity request.

Vault's form: `role`, `identity_request_url` (base64 of the signed URL) and
`identity_request_headers` (the signed request's headers). Or send the signed query parameters
themselves (Action, Format, Version, AccessKeyId, SignatureMethod, Timestamp, SignatureVersion,
SignatureNonce, Signature, optional SecurityToken and RegionId), signed for GET."""


class LoginPaths:
    def __init__(self, roles: RoleStore, verifier: CallerVerifier) -> None:
        self._roles = roles
        self._verifier = verifier

    def paths(self) -> list[Path]:
        return [
            Path(
                "login",
                {Operation.UPDATE: self.login},
                LoginInput,
                synopsis="Log in with a signed GetCallerIdentity request.",
                description=LOGIN_HELP,
            )
        ]

    async def login(self, req: Request[Any]) -> Response:
        data = req.data
        if isinstance(data.role, UnsetType) or not data.role:
            raise BadRequest("missing role")
        role_name = str(data.role)
        url, method, headers = self._signed_request(data)
        caller = await self._verifier.verify(url, method, headers)
        # Only now is the role consulted: an unknown role, a client outside the role's CIDRs
        # and an identity the role does not bind fail alike (same status, same message, after
        # the same steps), so an unauthenticated caller cannot tell which roles exist. The
        # log says which it was.
        role = await self._roles.get(role_name)
        if role is None:
            raise _refused(f'role "{role_name}" does not exist (caller {caller.Arn})')
        cidrs = role.token.token_bound_cidrs or role.token.bound_cidrs
        if cidrs and not ip_allowed(req.client_ip, cidrs):
            raise _refused(f"login from {req.client_ip} outside the role's CIDRs")
        self._check_caller(role, caller)
        return Response(auth=_auth_for(role, role_name, caller))

    def _signed_request(self, data: Any) -> tuple[str, str, list[tuple[str, str]]]:
        signed_params = {
            name: str(getattr(data, name))
            for name in SIGNED_PARAMS
            if not isinstance(getattr(data, name), UnsetType)
        }
        if data.identity_request_url is not None:
            if signed_params:
                raise BadRequest(
                    "send either identity_request_url and identity_request_headers, or the "
                    "signed parameters, not both"
                )
            url = decode_identity_request_url(data.identity_request_url)
            headers = decode_identity_request_headers(data.identity_request_headers)
            return url, "POST", headers
        if signed_params:
            return url_from_signed_params(signed_params), "GET", []
        raise BadRequest("missing identity_request_url")

    def _check_caller(self, role: Role, caller: CallerIdentity) -> None:
        try:
            caller_arn = parse_caller(caller.Arn)
        except ValueError:
            raise _refused(f"STS returned an ARN wardgate cannot use: {caller.Arn!r}") from None
        binding = parse_role_binding(role.arn)
        if not matches(binding, caller_arn, role.bound_session_names):
            raise _refused(f"caller {caller.Arn} vs role {role.arn}")

    async def renew(self, renew: RenewRequest) -> LoginAuth:
        """A token from this mount is renewed: the role must still exist and still match.

        Tokens issued through the Infisical face keep the settings they were issued with (as
        Infisical does); deleting their identity or its config revokes them instead.
        """
        internal = renew.auth.internal
        if IDENTITY_MARK in internal:
            return renew.auth
        role_name = str(internal.get("role_name", ""))
        role = await self._roles.get(role_name) if role_name else None
        if role is None:
            raise PermissionDenied(f'role "{role_name}" no longer exists; log in again')
        caller_arn = parse_caller(str(internal.get("arn", "")))
        if not matches(parse_role_binding(role.arn), caller_arn, role.bound_session_names):
            raise PermissionDenied("the caller's ARN no longer matches the role; log in again")
        fresh = login_auth(role.token)
        return msgspec.structs.replace(
            renew.auth, ttl=fresh.ttl, max_ttl=fresh.max_ttl, period=fresh.period
        )


REFUSED = "the caller's identity cannot log in with this role"


def _refused(detail: str) -> PermissionDenied:
    """The one answer for every reason a proven identity may not use the named role."""
    return PermissionDenied(REFUSED, log_detail=detail)


def _auth_for(role: Role, role_name: str, caller: CallerIdentity) -> LoginAuth:
    metadata = {
        "account_id": caller.AccountId,
        "arn": caller.Arn,
        "identity_type": caller.IdentityType,
        "principal_id": caller.PrincipalId,
        "request_id": caller.RequestId,
        "role_id": caller.RoleId,
        "role_name": role_name,
        "user_id": caller.UserId,
    }
    return login_auth(
        role.token,
        metadata=metadata,
        display_name=caller.PrincipalId,
        internal={"role_name": role_name, "arn": caller.Arn},
    )
