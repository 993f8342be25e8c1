"""The plugin contract of the Infisical face: what a plugin needs to serve its auth method under
`/api/v1/` (see `core.infisical.method` for how the face uses it). Plugins import these names
from here, like the rest of the contract, never from `core.infisical` itself."""

from core.infisical.auth_config import BAD_IP, DEFAULT_TRUSTED_IPS, AuthConfig, render_ip
from core.infisical.errors import (
    IP_MESSAGE,
    BadGatewayError,
    BadRequestError,
    ForbiddenError,
    GatewayTimeoutError,
    InfisicalError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
    UnauthorizedError,
    ValidationFailure,
)
from core.infisical.method import (
    IDENTITY_MARK,
    FaceRequest,
    FaceRoute,
    FaceServices,
    InfisicalAuthMethod,
    LoginGrant,
)
from core.infisical.schema import Issues, enum, integer, object_list, string

__all__ = [
    "BAD_IP",
    "DEFAULT_TRUSTED_IPS",
    "IDENTITY_MARK",
    "IP_MESSAGE",
    "AuthConfig",
    "BadGatewayError",
    "BadRequestError",
    "FaceRequest",
    "FaceRoute",
    "FaceServices",
    "ForbiddenError",
    "GatewayTimeoutError",
    "InfisicalAuthMethod",
    "InfisicalError",
    "Issues",
    "LoginGrant",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServiceUnavailableError",
    "UnauthorizedError",
    "ValidationFailure",
    "enum",
    "integer",
    "object_list",
    "render_ip",
    "string",
]
