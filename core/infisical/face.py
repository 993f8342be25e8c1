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

from core.config import Config, normalize_mount_path
from core.framework.decode import parse_body_async, read_body, token_from_headers
from core.framework.errors import WardgateError
from core.framework.path import Operation
from core.infisical.auth_config import AuthConfigStore
from core.infisical.errors import (
    BadRequestError,
    InfisicalError,
    NotFoundError,
    UnauthorizedError,
    error_body,
    from_wardgate,
)
from core.infisical.identities import IdentityStore
from core.infisical.method import FaceRequest, FaceRoute, FaceServices, InfisicalAuthMethod
from core.infisical.routes_auth import AuthRoutes
from core.infisical.routes_identities import IdentityRoutes
from core.storage.base import StorageView
from core.tokens.store import Authenticated

if TYPE_CHECKING:
    from core.context import CoreContext, Mounted

log = logging.getLogger("wardgate.request")

PREFIX = "/api/v1/"
ACL_PREFIX = "infisical/"
FACE = "infisical"
_HEADERS = {"Cache-Control": "no-store", "Content-Type": "application/json; charset=utf-8"}
_METHODS = frozenset({"GET", "POST", "PATCH", "DELETE"})


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

    async def handle(self, request: HTTPRequest) -> HTTPResponse:
        try:
            answer = await self._handle(request)
            return HTTPResponse(msgspec.json.encode(answer), 200, headers=_HEADERS)
        except InfisicalError as exc:
            return _refused(request, exc)
        except WardgateError as exc:
            return _refused(request, from_wardgate(exc))
        except Exception:
            log.exception("%s %s failed", request.method, request.url.path)
            return _refused(request, InfisicalError())

    async def _handle(self, request: HTTPRequest) -> Any:
        method = request.method.upper()
        path = request.url.path[len(PREFIX) :]
        if path.endswith("/"):
            path = path[:-1]  # Infisical's agent posts to `.../login/`
        if "//" in path or any(p in (".", "..") for p in path.split("/")):
            raise BadRequestError(f"path {request.url.path!r} is not canonical")
        if method not in _METHODS:
            raise NotFoundError(f"Route {method}:{request.url.path} not found")
        route, captures = await self._route(method, path, request.url.path)
        client_ip = request.client.host if request.client else None
        if route.capability is None:
            body = await self._body(request, method, self._max_unauthenticated_body)
            return await route.handler(FaceRequest(method, path, captures, body, client_ip))
        # The token is checked before the body is read: a caller without one makes the
        # server read nothing.
        caller = await self._authenticate(request, client_ip)
        try:
            body = await self._body(request, method, self._max_body)
            await self._ctx.authorizer.check(
                caller.entry,
                _acl_path(path, route.capability),
                route.capability,
                body,
                needs_sudo=False,
            )
            req = FaceRequest(method, path, captures, body, client_ip, caller)
            return await route.handler(req)
        finally:
            if caller.last_use:
                await self._ctx.tokens.revoke_tree(caller.hash)

    async def _body(self, request: HTTPRequest, method: str, limit: int) -> dict[str, Any]:
        if method == "GET":
            return dict(request.query_params)
        raw = await read_body(request.stream(), request.headers.get("content-length"), limit)
        return await parse_body_async(raw, request.headers.get("content-type", ""))

    async def _authenticate(self, request: HTTPRequest, client_ip: str | None) -> Authenticated:
        token = token_from_headers(request.headers)
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
    ) -> tuple[FaceRoute, dict[str, str]]:
        core_routes, auth = self._setup()
        routes = core_routes
        parts = path.split("/")
        if len(parts) > 2 and parts[0] == "auth" and parts[1] != "token":
            routes = await self._routes_of_method(parts[1], auth)
        for route in routes:
            if route.method != method:
                continue
            match = route.regex.match(path)
            if match is not None:
                return route, {k: v for k, v in match.groupdict().items() if v is not None}
        raise NotFoundError(f"Route {method}:{url_path} not found")

    async def _routes_of_method(self, slug: str, auth: AuthRoutes) -> list[FaceRoute]:
        found = await self._serving(slug)
        if found is None:
            raise NotFoundError(f"The auth method {slug} is not served here")
        method, mounted = found
        cached = self._method_routes.get(id(method))
        if cached is None or cached[0] is not method:
            cached = (method, auth.method_routes(method, mounted))
            self._method_routes[id(method)] = cached
        return cached[1]

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
