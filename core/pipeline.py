"""The request pipeline: one ASGI callable that serves every `/v1/...` request.

Order (as Vault): path and verb checks, body size, routing, the token check (before a missing
route is reported, so unauthenticated callers learn nothing about mounts), operation, ACL,
field validation, the handler, then the envelope. Client mistakes become 4xx with a message that
names the problem; the log gets the detail; anything unexpected is a logged 500.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from starlette.requests import Request as HTTPRequest
from starlette.responses import Response as HTTPResponse
from starlette.types import Receive, Scope, Send

from core.audit import AuditFailed, AuditRecord
from core.context import Mounted
from core.framework.decode import (
    parse_body_async,
    parse_bool_flag,
    parse_query,
    read_body,
    token_from_headers,
)
from core.framework.envelope import AuthBlock, Envelope, encode, encode_envelope, encode_errors
from core.framework.errors import (
    BadRequest,
    InternalError,
    NotFound,
    UnsupportedOperation,
    UnsupportedPath,
    WardgateError,
    storage_down,
)
from core.framework.fields import (
    decode_input,
    parse_duration,
    unknown_fields,
    unknown_fields_warning,
)
from core.framework.guards import check_raw_path
from core.framework.openapi import allow_header
from core.framework.path import LoginAuth, Operation, Path, Request, Response, TokenInfo
from core.framework.path_help import help_body
from core.infisical.face import PREFIX as INFISICAL_PREFIX
from core.infisical.face import InfisicalFace
from core.quotas.gate import check_rate_limit
from core.runtime import Runtime
from core.storage.base import StorageUnavailable
from core.tokens.issue import auth_block, issue_login_token
from core.tokens.store import Authenticated
from core.wrapping import wrap_envelope

log = logging.getLogger("wardgate.request")

_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "LIST"})
_HEADERS = {"Cache-Control": "no-store", "Content-Type": "application/json"}
# Never audited (as OpenBao): status endpoints a load balancer polls.
_NOT_AUDITED = frozenset({"sys/health", "sys/seal-status", "sys/leader"})
_METRICS = "sys/metrics"


_STORAGE_DOWN = storage_down()


class MethodNotAllowed(WardgateError):
    """An HTTP verb Vault's API does not have at all: 405 with an empty error list."""

    status = 405


class Pipeline:
    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._log_requests = runtime.config.log.requests
        self._max_body = runtime.config.server.max_request_size
        # The second front door (Infisical's API under /api/v1/), on the same edges as /v1/.
        self._infisical = (
            InfisicalFace(runtime.config, lambda: runtime.core)
            if runtime.config.infisical.enabled
            else None
        )
        self._max_unauthenticated_body = runtime.config.server.max_unauthenticated_request_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = HTTPRequest(scope, receive)
        started = time.perf_counter()
        response = await self.handle(request)
        if request.method == "HEAD":
            response = HTTPResponse(status_code=response.status_code, headers=_HEADERS)
        await response(scope, receive, send)
        if self._log_requests:
            log.info(
                "%s %s -> %d (%.1f ms) from %s",
                request.method,
                request.url.path,
                response.status_code,
                (time.perf_counter() - started) * 1000,
                request.client.host if request.client else "-",
            )

    async def handle(self, request: HTTPRequest) -> HTTPResponse:
        client = request.client
        record = AuditRecord(
            _request_id(),
            remote_address=client.host if client else None,
            remote_port=client.port if client else None,
        )
        started = time.perf_counter()
        # The edge both faces share: each fills in the record (and writes the request entry
        # before it executes anything); the quota check is theirs too, through one gate.
        refuse = _error
        if self._infisical is not None and request.url.path.startswith(INFISICAL_PREFIX):
            response = await self._infisical.handle(request, record)
            refuse = self._infisical.refusal  # its answers keep Infisical's error body
        else:
            response = await self._handle_logged(request, record)
        if record.path is not None:
            # Audit at the edge: the response entry of every audited request, errors too (and
            # its request entry, if the request failed before its handler was reached).
            try:
                await self._runtime.audit.log_request(record)
                if not record.request_only:
                    await self._runtime.audit.log_response(record)
            except AuditFailed as exc:
                log.error("%s %s: answer withheld: %s", request.method, record.path, exc.log_detail)
                response = refuse(exc)
            except StorageUnavailable as exc:
                # The audit table could not be read: the answer cannot be audited, so it is
                # withheld like any unaudited one (the storage has logged the outage).
                log.debug("%s %s: answer withheld: %s", request.method, record.path, exc)
                response = refuse(_STORAGE_DOWN)
        if record.response_headers:
            response.headers.update(record.response_headers)
        if response.status_code != 429:  # as Vault: rejected requests are not timed
            self._runtime.metrics.request_done(
                login=record.login, status=response.status_code, started=started
            )
        return response

    async def _handle_logged(self, request: HTTPRequest, record: AuditRecord) -> HTTPResponse:
        try:
            return await self._handle(request, record)
        except WardgateError as exc:
            record.fail(exc)
            level = logging.WARNING if exc.status >= 500 else logging.INFO
            log.log(
                level,
                "%s %s refused (%d): %s%s",
                request.method,
                request.url.path,
                exc.status,
                exc.message or type(exc).__name__,
                f" [{exc.log_detail}]" if exc.log_detail else "",
            )
            return _error(exc)
        except StorageUnavailable as exc:
            # The storage logs each outage once; the client only learns that storage is down.
            log.debug("%s %s refused (503): %s", request.method, request.url.path, exc)
            record.fail(_STORAGE_DOWN)
            return _error(_STORAGE_DOWN)
        except Exception:
            log.exception("%s %s failed", request.method, request.url.path)
            record.fail(InternalError())
            return _error(InternalError())

    async def _handle(self, request: HTTPRequest, record: AuditRecord) -> HTTPResponse:
        method = request.method.upper()
        url_path = request.url.path
        if not url_path.startswith("/v1/"):
            raise NotFound()
        if method not in _KNOWN_METHODS:
            unknown = MethodNotAllowed()
            unknown.allow = "GET, HEAD, POST, PUT, DELETE, LIST"
            raise unknown
        check_raw_path(request.scope.get("raw_path"), url_path)
        path = url_path[4:]
        if path.startswith("/") or "//" in path or any(p in (".", "..") for p in path.split("/")):
            raise BadRequest(f"path {url_path!r} is not canonical")

        query = request.query_params
        listing = method == "LIST" or (
            method in ("GET", "HEAD") and parse_bool_flag(query.get("list", "false"), "list")
        )
        wants_help = parse_bool_flag(query.get("help", "false"), "help")
        wrap_ttl = self._wrap_ttl(request.headers.get("x-vault-wrap-ttl"))
        # As Vault: a list request is logged with the collection's trailing slash.
        record.path = None if path in _NOT_AUDITED else path + ("/" if listing else "")
        if listing and path.endswith("/"):
            record.path = path
        record.operation = _plain_operation(method, listing).value
        token = token_from_headers(request.headers)
        # One storage statement: the tables, the policy generation and the token's entry.
        tables = await self._runtime.request_tables(token)
        record.tables = tables
        route = await self._runtime.router.resolve(path, tables)
        rel = route[1] if route is not None else ""
        if listing and rel and not rel.endswith("/"):
            rel += "/"
        client_ip = request.client.host if request.client else None
        # `?help=1` always needs a token: help on a login path would otherwise tell an
        # anonymous caller which mounts exist (200 vs 403).
        open_route = (
            route is not None and rel in route[0].backend.unauthenticated and not wants_help
        )
        # A path that needs no token (a login) has its small body read first: a role quota
        # needs the login's role, and the quota comes before everything else.
        early = (
            await _request_data(request, method, self._max_unauthenticated_body)
            if open_route
            else None
        )
        await check_rate_limit(
            self._runtime.quotas,
            self._runtime.metrics,
            path=path,
            mount=route[0].prefix if route is not None else "",
            rel=rel,
            backend=route[0].backend if route is not None else None,
            body=early or {},
            client_ip=client_ip,
            now=self._runtime.clock.now(),
            record=record,
            tables=tables,
        )
        record.token = token or ""
        authed: Authenticated | None = None
        if route is not None:
            record.describe_mount(route[0].prefix, route[0].info, auth=route[0].entry is not None)
        # The token is checked before the body is read: a caller without a valid token makes
        # the server read nothing. Paths that need no token read a small body at most.
        if route is not None and open_route:
            record.login = route[0].entry is not None
            if path == _METRICS:
                record.path = None  # served without a token: not audited (OpenBao)
            # No token needed; one that is sent is looked at (never spent) so such paths can
            # tailor their answer (the OpenAPI document is filtered by the caller's ACL).
            authed = await self._runtime.tokens.peek(token, client_ip, tables) if token else None
            spent = None
            limit = self._max_unauthenticated_body
        else:
            authed = spent = await self._runtime.tokens.authenticate(token, client_ip, tables)
            limit = self._max_body
        if authed is not None:
            record.caller = authed.entry
        try:
            raw = early if early is not None else await _request_data(request, method, limit)
            if method not in ("GET", "HEAD"):
                record.data = raw
            if route is None:
                if spent is not None:
                    # As Vault: the ACL speaks first, so a token cannot map out which mounts
                    # exist by the difference between 404 and 403.
                    await self._runtime.authorizer.check(
                        spent.entry,
                        path,
                        _plain_operation(method, listing),
                        raw,
                        needs_sudo=False,
                        tables=tables,
                    )
                raise NotFound(f'no handler for route "{path}". route entry not found.')
            return await self._dispatch(
                route[0],
                rel,
                method,
                listing,
                wants_help,
                raw,
                client_ip,
                authed,
                spent is None,
                record,
                wrap_ttl=wrap_ttl,
                presented_token=token if spent is None else "",
            )
        finally:
            if spent is not None and spent.last_use:
                await self._runtime.tokens.revoke_tree(spent.hash)

    async def _dispatch(
        self,
        mounted: Mounted,
        rel: str,
        method: str,
        listing: bool,
        wants_help: bool,
        raw: dict[str, Any],
        client_ip: str | None,
        authed: Authenticated | None,
        unauthenticated: bool,
        record: AuditRecord,
        *,
        wrap_ttl: int = 0,
        presented_token: str = "",
    ) -> HTTPResponse:
        matched = _match(mounted, rel)
        captures = matched[1] if matched else {}
        rel = matched[2] if matched else rel
        params = dict(raw)  # what the client sent, for the ACL's parameter rules
        if record.data is not None:
            record.data = params
        raw.update(captures)  # the capture wins over a body field of the same name
        request: Request[Any] = Request(
            operation=_plain_operation(method, listing),
            path=rel,
            data=None,
            raw=raw,
            captures=captures,
            mount=mounted.info,
            client_ip=client_ip,
            token=_token_info(authed),
            wrap_ttl=wrap_ttl,
            presented_token=presented_token or "",
        )
        path_def = matched[0] if matched else None
        if path_def is not None and not wants_help and request.operation is Operation.UPDATE:
            request.operation = await _refine_write(path_def, request)
            record.operation = request.operation.value
        if not unauthenticated:
            # As Vault: the ACL is checked before a missing path or verb is reported, so a
            # token learns nothing about paths it may not use.
            assert authed is not None
            decision = await self._runtime.authorizer.check(
                authed.entry,
                mounted.prefix + rel,
                request.operation,
                params,
                needs_sudo=path_def is not None and path_def.sudo,
                tables=record.tables,
            )
            request.sudo = decision.sudo
            record.allowed = True
        elif authed is not None:
            request.sudo = authed.entry.is_root
        if path_def is None:
            raise UnsupportedPath()
        if wants_help:
            body = help_body(mounted.prefix, mounted.backend, path_def, mounted.prefix + rel)
            return HTTPResponse(encode(body), headers=_HEADERS)
        handler = path_def.operations.get(request.operation)
        if handler is None:
            refused = UnsupportedOperation()
            refused.allow = allow_header(path_def)
            raise refused
        request.data = decode_input(path_def.fields, raw)
        # "Audit or fail": the request entry is written before anything is executed.
        await self._runtime.audit.log_request(record)
        try:
            result = await handler(request)
        except WardgateError as exc:
            if exc.status == 405:  # a raw endpoint's bare 405
                exc.allow = allow_header(path_def)
            raise
        if result is not None and isinstance(result.raw_body, bytes):
            headers = {**_HEADERS, "Content-Type": result.content_type or _HEADERS["Content-Type"]}
            return HTTPResponse(result.raw_body, result.status, headers=headers)
        if result is not None and result.raw_body is not None:
            return HTTPResponse(encode(result.raw_body), result.status, headers=_HEADERS)
        unknown = (
            []
            if path_def.free_form
            else unknown_fields(
                path_def.fields, {k: v for k, v in params.items() if k not in captures}
            )
        )
        if result is None:
            if request.operation in (Operation.READ, Operation.LIST):
                raise NotFound()  # a missing item or an empty list: 404 {"errors":[]}
            if not unknown:
                return HTTPResponse(status_code=204, headers=_HEADERS)
            # A write that ignored fields says so (200 with the warning), never a silent 204.
            result = Response()
        record.response_data = result.data
        warnings = list(result.warnings)
        if unknown:
            warnings.append(unknown_fields_warning(unknown))
        if isinstance(result.auth, LoginAuth):
            entry, token, ttl_warnings = await issue_login_token(
                self._runtime.core, mounted, result.auth, path=mounted.prefix + rel
            )
            warnings.extend(ttl_warnings)
            result.auth = auth_block(entry, token, ttl=entry.creation_ttl)
        record.response_auth = result.auth
        record.warnings = warnings
        if wrap_ttl:
            return await self._wrapped(
                result, warnings, wrap_ttl, mounted.prefix + rel, record.request_id
            )
        return _envelope(result, warnings, record.request_id)

    def _wrap_ttl(self, header: str | None) -> int:
        """The X-Vault-Wrap-TTL asked for, in seconds (0: no wrapping)."""
        if header is None or not header.strip():
            return 0
        try:
            ttl = parse_duration(header.strip())
        except ValueError as exc:
            raise BadRequest(f"error parsing X-Vault-Wrap-TTL: {exc}") from None
        if ttl > self._runtime.config.max_ttl:
            raise BadRequest(
                f"wrap TTL of {ttl} seconds exceeds the system max TTL of "
                f"{self._runtime.config.max_ttl} seconds"
            )
        return ttl

    async def _wrapped(
        self, result: Response, warnings: list[str], ttl: int, path: str, request_id: str
    ) -> HTTPResponse:
        """The response kept behind a single-use wrapping token; the client gets `wrap_info`."""
        inner = _envelope(result, warnings, request_id)
        accessor = result.wrapped_accessor
        if not accessor and isinstance(result.auth, AuthBlock):
            accessor = result.auth.accessor
        info = await self._runtime.wrapping.wrap(
            bytes(inner.body), ttl=ttl, creation_path=path, wrapped_accessor=accessor
        )
        body = encode_envelope(wrap_envelope(info), legacy_top_level=False)
        return HTTPResponse(body, 200, headers=_HEADERS)


async def _request_data(request: HTTPRequest, method: str, limit: int) -> dict[str, Any]:
    """The request's data: its query on GET/HEAD, else its body (at most `limit` bytes,
    refused with 413 before parsing when larger)."""
    if method in ("GET", "HEAD"):
        return parse_query(request.query_params.multi_items())
    body = await read_body(request.stream(), request.headers.get("content-length"), limit)
    if method == "DELETE":
        return {}
    return await parse_body_async(body, request.headers.get("content-type", ""))


def _match(mounted: Mounted, rel: str) -> tuple[Path, dict[str, str], str] | None:
    """The Path serving `rel`, its captures, and `rel` with case-insensitive captures
    lower-cased (the form the ACL and the handler see)."""
    for path_def in mounted.backend.paths:
        match = path_def.regex.match(rel)
        if match is None:
            continue
        captures = {k: v for k, v in match.groupdict().items() if v is not None}
        for name in path_def.case_insensitive:
            if name in captures:
                start, end = match.span(name)
                rel = rel[:start] + rel[start:end].lower() + rel[end:]
                captures[name] = captures[name].lower()
        return path_def, captures, rel
    return None


def _plain_operation(method: str, listing: bool) -> Operation:
    """The operation an HTTP verb means before a path's existence check refines POST/PUT."""
    if listing:
        return Operation.LIST
    return {"GET": Operation.READ, "HEAD": Operation.READ, "DELETE": Operation.DELETE}.get(
        method, Operation.UPDATE
    )


async def _refine_write(path_def: Path, request: Request[Any]) -> Operation:
    """POST and PUT: the path's existence check decides create vs update, as in Vault."""
    ops = path_def.operations
    if path_def.existence_check is not None and Operation.CREATE in ops:
        return Operation.UPDATE if await path_def.existence_check(request) else Operation.CREATE
    return Operation.UPDATE if Operation.UPDATE in ops else Operation.CREATE


def _token_info(authed: Authenticated | None) -> TokenInfo | None:
    if authed is None:
        return None
    return TokenInfo(
        accessor=authed.entry.accessor,
        policies=list(authed.entry.policies),
        display_name=authed.entry.display_name,
        client_token=authed.token,
        is_root=authed.entry.is_root,
        entry=authed.entry,
    )


def _envelope(result: Response, warnings: list[str], request_id: str) -> HTTPResponse:
    envelope = Envelope(
        request_id=request_id,
        data=result.data,
        warnings=warnings or None,
        auth=result.auth,
    )
    body = encode_envelope(envelope, legacy_top_level=result.legacy_top_level)
    return HTTPResponse(body, result.status, headers=_HEADERS)


def _request_id() -> str:
    """A random UUID (version 4 layout) without building a uuid.UUID object per request."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _error(exc: WardgateError) -> HTTPResponse:
    headers = {**_HEADERS, "Allow": exc.allow} if exc.allow else _HEADERS
    return HTTPResponse(encode_errors(exc.client_messages()), exc.status, headers=headers)
