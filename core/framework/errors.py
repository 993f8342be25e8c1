"""Typed errors. Each carries the HTTP status it maps to; nothing matches on message text.

The message is what the client sees, so it must name the problem without leaking secrets.
Put detail for operators in `log_detail`: the pipeline logs it and never sends it.
"""

from __future__ import annotations


class WardgateError(Exception):
    status: int = 500
    # Vault wraps some errors as Go multierror strings; clients (and our wire tests) rely on the
    # exact text, so an error class says whether its message is rendered that way.
    multierror: bool = False
    # A 405's `Allow` header (RFC 9110 §15.5.6): the methods the path serves, set by the core.
    allow: str = ""

    def __init__(self, message: str = "", *, log_detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.log_detail = log_detail

    def client_messages(self) -> list[str]:
        if not self.message:
            return []
        if self.multierror:
            return [f"1 error occurred:\n\t* {self.message}\n\n"]
        return [self.message]


class BadRequest(WardgateError):
    """The client sent something invalid: 400."""

    status = 400


class InvalidRequest(BadRequest):
    """A 400 that Vault renders in multierror form (e.g. `invalid accessor`)."""

    multierror = True


class PermissionDenied(WardgateError):
    """403. Without a message it is Vault's plain `permission denied` for a bad token."""

    status = 403

    def __init__(self, message: str = "permission denied", *, log_detail: str = "") -> None:
        super().__init__(message, log_detail=log_detail)


class PolicyDenied(PermissionDenied):
    """403 for a valid token that policy does not allow (Vault's multierror form)."""

    multierror = True


class NotFound(WardgateError):
    """404. With no message the body is `{"errors":[]}` (a missing item or empty LIST)."""

    status = 404


class UnsupportedPath(NotFound):
    multierror = True

    def __init__(self, message: str = "unsupported path", *, log_detail: str = "") -> None:
        super().__init__(message, log_detail=log_detail)


class UnsupportedOperation(WardgateError):
    status = 405
    multierror = True

    def __init__(self, message: str = "unsupported operation", *, log_detail: str = "") -> None:
        super().__init__(message, log_detail=log_detail)


class RateLimited(WardgateError):
    """429: a rate-limit quota refused the request."""

    status = 429
    # Whole seconds until the client may try again (a face may name it in its own answer).
    retry_after = 0


class PayloadTooLarge(WardgateError):
    status = 413

    def __init__(self, message: str = "http: request body too large") -> None:
        super().__init__(message)


class UpstreamError(WardgateError):
    """An upstream service (e.g. STS) was unreachable or misbehaved: 502."""

    status = 502


class UpstreamTimeout(WardgateError):
    status = 504


class Unavailable(WardgateError):
    """Part of the server cannot serve right now (e.g. a mount whose plugin failed to load)."""

    status = 503


class InternalError(WardgateError):
    """A fault of ours. The client sees a generic message; the log gets the detail."""

    status = 500

    def __init__(self, message: str = "internal error", *, log_detail: str = "") -> None:
        super().__init__(message, log_detail=log_detail)


def storage_down() -> Unavailable:
    """What a client sees when the database cannot be reached (never which database, or why)."""
    return Unavailable("storage unavailable")
