"""The Infisical front door: `/api/v1/...`, routed by the core's pipeline next to `/v1/`.

It only translates: routes, request shapes, answers and error bodies are Infisical's; tokens,
ACL checks, storage and every auth method's login logic are wardgate's own, shared with the
Vault face. Routes come from three places:

- `routes_identities.py`: machine identities;
- `routes_auth.py`: what every auth method shares (its config on an identity, login, and the
  access token's renew/revoke);
- the auth methods themselves: a plugin offers one by putting a
  `core.infisical.method.InfisicalAuthMethod` in its Backend's `faces["infisical"]` (see that
  module). The mount serving a method is the one at the method's `default_mount` unless the
  config's `[infisical] mounts` names another (or "" to turn the method off).

Routes with a capability need a token (`Authorization: Bearer`, or `X-Vault-Token`) whose ACL
grants it on `infisical/<path after /api/v1/>`: no token 401, refused 403.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec
from starlette.requests import Request as HTTPRequest
from starlette.responses import Response as HTTPResponse

from core.audit import AuditRecord
from core.config import Config, normalize_mount_path
from core.framework.decode import parse_body_async, read_body, token_from_headers
from core.framework.errors import RateLimited, WardgateError, storage_down
from core.framework.guards import check_raw_path
from core.framework.path import Operation
from core.infisical.auth_config import AuthConfigStore
from core.infisical.errors import (
    BadRequestError,
    InfisicalError,
    NotFoundError,
    RateLimitError,
    UnauthorizedError,
    error_body,
    from_wardgate,
)
from core.infisical.identities import IdentityStore
from core.infisical.method import FaceRequest, FaceRoute, FaceServices, InfisicalAuthMethod
from core.infisical.routes_auth import AuthRoutes
from core.infisical.routes_identities import IdentityRoutes
from core.quotas.gate import check_rate_limit
from core.storage.base import StorageUnavailable, StorageView
from core.tokens.store import Authenticated

if TYPE_CHECKING:
    from core.context import CoreContext, Mounted

log = logging.getLogger("wardgate.request")

PREFIX = "/api/v1/"
ACL_PREFIX = "infisical/"
FACE = "infisical"
_HEADERS = {"Cache-Control": "no-store", "Content-Type": "application/json; charset=utf-8"}
_METHODS = frozenset({"GET", "POST", "PATCH", "DELETE"})
# The audit entry's operation before the route says (a route's capability, when it has one).
_OPERATIONS = {"GET": "read", "DELETE": "delete"}


class InfisicalFace:
    def __init__(self, config: Config, core: Callable[[], CoreContext]) -> None:
        # The core's parts exist only once the server has started: fetched on first use.
        self._core = core
        self._mounts = {
            slug: normalize_mount_path(path) for slug, path in config.infisical.mounts.items()
        }
        self._max_body = config.server.max_request_size
        # Routes that need no token (logins, renew, revoke) read small bodies only, as /v1/.
        self._max_unauthenticated_body = config.server.max_unauthenticated_request_size
        self._core_routes: list[FaceRoute] | None = None
        self._auth: AuthRoutes | None = None
        self._method_routes: dict[int, tuple[object, list[FaceRoute]]] = {}

    @property
    def _ctx(self) -> CoreContext:
        return self._core()

    def _setup(self) -> tuple[list[FaceRoute], AuthRoutes]:
        """Built on first use: storage exists only once the server has started."""
        if self._core_routes is None or self._auth is None:
            storage = self._ctx.storage
            services = FaceServices(
                configs=AuthConfigStore(StorageView(storage, "infisical/auth/")),
                identities=IdentityStore(StorageView(storage, "infisical/identity/")),
            )
            self._auth = AuthRoutes(self._ctx, services)
            self._core_routes = [
                *IdentityRoutes(self._ctx, services).routes(),
                FaceRoute("POST", "auth/token/renew", self._auth.renew, None),
                FaceRoute("POST", "auth/token/revoke", self._auth.revoke, None),
            ]
        return self._core_routes, self._auth

    async def handle(self, request: HTTPRequest, record: AuditRecord) -> HTTPResponse:
        """Serve one request, filling in `record`; the pipeline's edge audits it (both faces
        share that edge: the response entry, "audit or fail", quota headers, metrics)."""
        try:
            answer = await self._handle(request, record)
            return HTTPResponse(msgspec.json.encode(answer), 200, headers=_HEADERS)
        except InfisicalError as exc:
            refused = exc
        except RateLimited as exc:
            refused = _rate_limited(exc, record)
        except WardgateError as exc:
            refused = from_wardgate(exc)
        except StorageUnavailable as exc:
            # The storage logs each outage once; the client only learns that storage is down.
            log.debug("%s %s refused (503): %s", request.method, request.url.path, exc)
            refused = from_wardgate(storage_down())
        except Exception:
            log.exception("%s %s failed", request.method, request.url.path)
            refused = InfisicalError()
        if not record.error:  # a quota refusal has put Vault's wording there already
            message = refused.message
            record.failed(refused.status, message if isinstance(message, str) else refused.name)
        return _refused(request, refused)

    def refusal(self, exc: WardgateError) -> HTTPResponse:
        """The answer when the edge withholds one (no audit device could record it)."""
        refused = from_wardgate(exc)
        return HTTPResponse(error_body(refused), refused.status, headers=_HEADERS)

    async def _handle(self, request: HTTPRequest, record: AuditRecord) -> Any:
        method = request.method.upper()
        url_path = request.url.path
        check_raw_path(request.scope.get("raw_path"), url_path)
        path = url_path[len(PREFIX) :]
        if path.endswith("/"):
            path = path[:-1]  # Infisical's agent posts to `.../login/`
        if "//" in path or any(p in (".", "..") for p in path.split("/")):
            raise BadRequestError(f"path {url_path!r} is not canonical")
        # Audited under the URL path after the first `/`, as a Vault path is after `/v1/`.
        record.path = "api/v1/" + path
        record.operation = _OPERATIONS.get(method, "update")
        if method not in _METHODS:
            raise NotFoundError(f"Route {method}:{url_path} not found")
        client_ip = request.client.host if request.client else None
        found = await self._route(method, path, url_path)
        route, captures, mounted = found if isinstance(found, tuple) else (None, {}, None)
        if route is not None and route.capability is not None:
            record.operation = route.capability.value
        login = mounted if route is not None and route.login else None
        # The quota comes before everything else, a missing route included (as on /v1/): a
        # login counts against its serving mount's quotas, any other route the global one.
        await check_rate_limit(
            self._ctx.quotas,
            self._ctx.metrics,
            path=record.path,
            mount=login.prefix if login is not None else "",
            rel="login" if login is not None else "",
            backend=None,  # an Infisical login names no Vault role: role quotas do not apply
            body={},
            client_ip=client_ip,
            now=self._ctx.clock.now(),
            record=record,
        )
        if mounted is not None:
            record.describe_mount(mounted.prefix, mounted.info, auth=True)
        if route is None:
            assert isinstance(found, InfisicalError)
            raise found
        if route.capability is None:
            record.login = route.login
            body = await self._body(request, method, self._max_unauthenticated_body)
            record.data = body
            req = FaceRequest(method, path, captures, body, client_ip)
            return await self._run(route, req, record)
        # The token is checked before the body is read: a caller without one makes the
        # server read nothing.
        record.token = token_from_headers(request.headers) or ""
        caller = await self._authenticate(record.token, client_ip)
        record.caller = caller.entry
        try:
            body = await self._body(request, method, self._max_body)
            if method != "GET":
                record.data = body
            await self._ctx.authorizer.check(
                caller.entry,
                _acl_path(path, route.capability),
                route.capability,
                body,
                needs_sudo=False,
            )
            record.allowed = True
            req = FaceRequest(method, path, captures, body, client_ip, caller)
            return await self._run(route, req, record)
        finally:
            if caller.last_use:
                await self._ctx.tokens.revoke_tree(caller.hash)

    async def _run(self, route: FaceRoute, req: FaceRequest, record: AuditRecord) -> Any:
        """The handler, after its request entry is written ("audit or fail": nothing is
        executed that cannot be audited)."""
        await self._ctx.audit.log_request(record)
        answer = await route.handler(req)
        record.response_data = answer
        record.response_auth = req.issued
        return answer

    async def _body(self, request: HTTPRequest, method: str, limit: int) -> dict[str, Any]:
        if method == "GET":
            return dict(request.query_params)
        raw = await read_body(request.stream(), request.headers.get("content-length"), limit)
        return await parse_body_async(raw, request.headers.get("content-type", ""))

    async def _authenticate(self, token: str, client_ip: str | None) -> Authenticated:
        if not token:
            raise UnauthorizedError("Token missing")
        try:
            return await self._ctx.tokens.authenticate(token, client_ip)
        except WardgateError as exc:
            refused = from_wardgate(exc)
            if isinstance(refused, UnauthorizedError):
                refused.message = "Failed to authorize: the token is invalid, expired or revoked"
            raise refused from None

    async def _route(
        self, method: str, path: str, url_path: str
    ) -> tuple[FaceRoute, dict[str, str], Mounted | None] | InfisicalError:
        """The route serving the request, its captures and (for an auth method's routes) the
        serving mount; or the 404 to answer once the quota has been checked."""
        core_routes, auth = self._setup()
        routes = core_routes
        mounted = None
        parts = path.split("/")
        if len(parts) > 2 and parts[0] == "auth" and parts[1] != "token":
            served = await self._routes_of_method(parts[1], auth)
            if served is None:
                return NotFoundError(f"The auth method {parts[1]} is not served here")
            routes, mounted = served
        for route in routes:
            if route.method != method:
                continue
            match = route.regex.match(path)
            if match is not None:
                captures = {k: v for k, v in match.groupdict().items() if v is not None}
                return route, captures, mounted
        return NotFoundError(f"Route {method}:{url_path} not found")

    async def _routes_of_method(
        self, slug: str, auth: AuthRoutes
    ) -> tuple[list[FaceRoute], Mounted] | None:
        found = await self._serving(slug)
        if found is None:
            return None
        method, mounted = found
        cached = self._method_routes.get(id(method))
        if cached is None or cached[0] is not method:
            cached = (method, auth.method_routes(method, mounted))
            self._method_routes[id(method)] = cached
        return cached[1], mounted

    async def _serving(self, slug: str) -> tuple[InfisicalAuthMethod, Mounted] | None:
        """The method object for `slug` and its mount: the configured mount, or the method's
        default mount."""
        wanted = self._mounts.get(slug)
        if wanted == "":
            return None  # turned off in the config
        for mounted in await self._ctx.router.mounted():
            method = mounted.backend.faces.get(FACE)
            if not isinstance(method, InfisicalAuthMethod) or method.slug != slug:
                continue
            target = wanted if wanted is not None else normalize_mount_path(method.default_mount)
            if mounted.info.path == target:
                return method, mounted
        return None


def _acl_path(path: str, capability: Operation) -> str:
    """The Vault-style path the ACL checks: `infisical/` + the URL path (LIST with a `/`)."""
    acl = ACL_PREFIX + path
    return acl + "/" if capability is Operation.LIST else acl


def _rate_limited(exc: RateLimited, record: AuditRecord) -> InfisicalError:
    """Infisical's 429: its wording, naming the wait, which `Retry-After` always carries too
    (as Infisical's rate limiter sends it). The audit entry keeps the quota's own message, the
    one the Vault face logs."""
    wait = max(1, exc.retry_after)  # Vault's value is truncated; "try again in 0 s" misleads
    record.fail(exc)
    record.response_headers = {**(record.response_headers or {}), "Retry-After": str(wait)}
    return RateLimitError(f"Rate limit exceeded. Please try again in {wait} seconds")


def _refused(request: HTTPRequest, exc: InfisicalError) -> HTTPResponse:
    level = logging.WARNING if exc.status >= 500 else logging.INFO
    log.log(
        level,
        "%s %s refused (%d): %s%s",
        request.method,
        request.url.path,
        exc.status,
        exc.name if isinstance(exc.message, list) else exc.message,
        f" [{exc.log_detail}]" if exc.log_detail else "",
    )
    return HTTPResponse(error_body(exc), exc.status, headers=_HEADERS)
