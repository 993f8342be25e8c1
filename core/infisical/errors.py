"""Infisical's error body: `{reqId, statusCode, message, error}`, in that key order.

The face raises these classes; errors the shared core raises (wardgate's own classes) are
translated by `from_wardgate`, by class, never by message text.
"""

from __future__ import annotations

import os
from typing import Any

import msgspec

from core.framework.errors import (
    BadRequest,
    PayloadTooLarge,
    PermissionDenied,
    PolicyDenied,
    WardgateError,
)
from core.tokens.store import IpNotAllowed

IP_MESSAGE = "You are not allowed to access this resource from the current IP address"
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


class InfisicalError(Exception):
    status = 500
    name = "InternalServerError"
    default_message = "Something went wrong"

    def __init__(self, message: Any = None, *, log_detail: str = "") -> None:
        self.message: Any = self.default_message if message is None else message
        super().__init__(str(self.message))
        self.log_detail = log_detail


class BadRequestError(InfisicalError):
    status, name, default_message = 400, "BadRequest", "The request is invalid"


class UnauthorizedError(InfisicalError):
    status, name = 401, "UnauthorizedError"
    default_message = "You are not allowed to access this resource"


class ForbiddenError(InfisicalError):
    status, name = 403, "ForbiddenError"
    default_message = "You are not allowed to access this resource"


class PermissionDeniedError(InfisicalError):
    """A valid token whose ACL policies do not allow the operation (Infisical's CASL 403)."""

    status, name = 403, "PermissionDenied"
    default_message = "You are not allowed to access this resource"


class NotFoundError(InfisicalError):
    status, name, default_message = 404, "NotFound", "The requested entity is not found"


class PayloadTooLargeError(InfisicalError):
    status, name, default_message = 413, "PayloadTooLarge", "Request body is too large"


class ValidationFailure(InfisicalError):
    """422: `message` is a list of zod-style issues, each with a `path`."""

    status, name = 422, "ValidationFailure"

    def __init__(self, issues: list[dict[str, Any]]) -> None:
        super().__init__(issues, log_detail="; ".join(str(i.get("message")) for i in issues))


class RateLimitError(InfisicalError):
    status, name, default_message = 429, "RateLimitExceeded", "Rate limit exceeded"


class BadGatewayError(InfisicalError):
    status, name, default_message = 502, "BadGateway", "Upstream service unavailable"


class ServiceUnavailableError(InfisicalError):
    status, name, default_message = 503, "ServiceUnavailable", "Service unavailable"


class GatewayTimeoutError(InfisicalError):
    status, name, default_message = 504, "GatewayTimeoutError", "Upstream service timed out"


_BY_STATUS: dict[int, type[InfisicalError]] = {
    400: BadRequestError,
    401: UnauthorizedError,
    404: NotFoundError,
    413: PayloadTooLargeError,
    429: RateLimitError,
    502: BadGatewayError,
    503: ServiceUnavailableError,
    504: GatewayTimeoutError,
}


def from_wardgate(exc: WardgateError) -> InfisicalError:
    """The Infisical error for an error of wardgate's core (same meaning, Infisical's names).

    A token refused by its trusted IPs is Infisical's 403 IP message; any other refused
    token is 401; a valid token that policy refuses is 403 PermissionDenied.
    """
    detail = exc.log_detail
    if isinstance(exc, IpNotAllowed):
        return ForbiddenError(IP_MESSAGE, log_detail=detail)
    if isinstance(exc, PolicyDenied):
        return PermissionDeniedError(log_detail=detail)
    if isinstance(exc, PermissionDenied):
        return UnauthorizedError(exc.message or None, log_detail=detail)
    if isinstance(exc, PayloadTooLarge):
        return PayloadTooLargeError(log_detail=detail)
    if isinstance(exc, BadRequest):
        return BadRequestError(exc.message or None, log_detail=detail)
    cls = _BY_STATUS.get(exc.status)
    if cls is None:
        return InfisicalError(log_detail=f"{type(exc).__name__}: {exc.message} {detail}")
    return cls(exc.message or None, log_detail=detail)


def request_id() -> str:
    """`req-` and 14 letters or digits, like fastify's ids in Infisical's answers."""
    return "req-" + "".join(_ALNUM[b % len(_ALNUM)] for b in os.urandom(14))


class _Body(msgspec.Struct):
    reqId: str
    statusCode: int
    message: Any
    error: str


def error_body(exc: InfisicalError) -> bytes:
    return msgspec.json.encode(_Body(request_id(), exc.status, exc.message, exc.name))
