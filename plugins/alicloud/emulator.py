"""An Alibaba Cloud STS emulator: GetCallerIdentity with real signature v1 verification.

It is a separate server (Starlette under Hypercorn) for the dev server and for tests, which
point `StsClient(endpoint_override=...)` at it. It behaves like STS as alibaba-sts.md
describes it: GET and POST on `/`, parameters from the query plus (POST, form content type)
the body, signature recomputed with the received method, checks in §1.4's order, nonces kept
31 minutes and recorded only after the signature verifies, §4/§5 response and error bodies.

Identities file (`load_identities`): a JSON array of objects with the `Identity` fields:

    [{"access_key_id": "STS.xxxx", "access_key_secret": "...", "security_token": "CAIS...",
      "arn": "acs:ram::1234567890123456:assumed-role/demo/dev", "account_id": "1234567890123456",
      "identity_type": "AssumedRoleUser", "principal_id": "300...:dev", "role_id": "300..."},
     {"access_key_id": "LTAI...", "access_key_secret": "...", "identity_type": "RAMUser",
      "arn": "acs:ram::1234567890123456:user/alice", "account_id": "1234567890123456",
      "principal_id": "200...", "user_id": "200..."}]

`identity_type` is `RAMUser`, `AssumedRoleUser` or `Account`; `user_id`, `role_id` and
`security_token` may be omitted (an `STS.` key requires a token); `disabled: true` makes the
key answer `InvalidAccessKeyId.Inactive`.

Faults for tests (`EmulatorState.fault`): `http500`, `throttle` (Throttling.User), `garbage`
(200 with a non-JSON body), `huge` (an endless-looking 16 MiB chunked body), `redirect` (302
back to this server), `slow:<seconds>` (sleep, then answer normally).
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import cast
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

import msgspec
from hypercorn.asyncio import serve
from hypercorn.config import Config
from hypercorn.typing import ASGIFramework
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from plugins.alicloud.emulator_core import (
    EmulatorState,
    Identity,
    StsFault,
    demo_identities,
    load_identities,
    verify,
)
from plugins.alicloud.signer import GLOBAL_STS_HOST

__all__ = [
    "EmulatorState",
    "Identity",
    "build_emulator_app",
    "demo_identities",
    "load_identities",
    "serve_emulator",
]

MAX_FORM_BYTES = 64 * 1024
HUGE_CHUNK = 64 * 1024
HUGE_CHUNKS = 256


def _identity_body(identity: Identity, request_id: str) -> dict[str, str]:
    body = {
        "RequestId": request_id,
        "AccountId": identity.account_id,
        "Arn": identity.arn,
        "IdentityType": identity.identity_type,
        "PrincipalId": identity.principal_id,
    }
    # Real STS sends UserId for accounts and RAM users, RoleId for roles (§4).
    if identity.user_id:
        body["UserId"] = identity.user_id
    if identity.role_id:
        body["RoleId"] = identity.role_id
    return body


def _render(root: str, body: dict[str, str], status: int, as_json: bool) -> Response:
    if as_json:
        return Response(
            msgspec.json.encode(body), status, media_type="application/json;charset=utf-8"
        )
    fields = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in body.items())
    xml = f"<?xml version='1.0' encoding='UTF-8'?><{root}>{fields}</{root}>"
    return Response(xml, status, media_type="text/xml;charset=utf-8")


def _error(fault: StsFault, host: str, request_id: str, as_json: bool) -> Response:
    body = {
        "RequestId": request_id,
        "HostId": host,
        "Code": fault.code,
        "Message": fault.message,
        "Recommend": f"https://api.aliyun.com/troubleshoot?q={fault.code}&product=Sts"
        f"&requestId={request_id}",
    }
    return _render("Error", body, fault.status, as_json)


async def _params(request: Request) -> dict[str, str]:
    pairs = parse_qsl(request.scope["query_string"].decode("latin-1"), keep_blank_values=True)
    content_type = request.headers.get("content-type", "")
    if request.method == "POST" and content_type.startswith("application/x-www-form-urlencoded"):
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM_BYTES:
                raise StsFault("InvalidParameter", 400, "The request body is too large.")
        # The Tea SDK merges form body parameters into the signed set.
        pairs += parse_qsl(body.decode("latin-1"), keep_blank_values=True)
    params: dict[str, str] = {}
    for name, value in pairs:
        params.setdefault(name, value)  # the first copy wins
    return params


async def _huge_body() -> AsyncIterator[bytes]:
    chunk = b" " * HUGE_CHUNK
    for _ in range(HUGE_CHUNKS):
        yield chunk


async def _fault_response(fault: str) -> Response | None:
    if fault == "http500":
        raise StsFault(
            "InternalError",
            500,
            "STS Server Internal Error happened, please send the RequestId to us.",
        )
    if fault == "throttle":
        raise StsFault("Throttling.User", 400, "Request was denied due to user flow control.")
    if fault == "garbage":
        return Response(b"<html>certainly not JSON", 200, media_type="text/html")
    if fault == "huge":
        # Streamed without Content-Length, so only a reader-side cap can stop it.
        return StreamingResponse(_huge_body(), 200, media_type="application/json")
    if fault == "redirect":
        return Response(b"", 302, headers={"Location": "/redirected"})
    await asyncio.sleep(float(fault.partition(":")[2]))  # slow:<seconds>
    return None


async def _handle(request: Request) -> Response:
    state: EmulatorState = request.app.state.emulator
    state.request_count += 1
    host = request.url.hostname or GLOBAL_STS_HOST
    request_id = str(uuid.uuid4()).upper()
    as_json = True
    try:
        if state.fault is not None:
            response = await _fault_response(state.fault)
            if response is not None:
                return response
        if request.url.path != "/":
            raise StsFault(
                "InvalidApi.NotFound",
                404,
                "Specified api is not found,please check your url and method.",
            )
        if request.method not in ("GET", "POST"):
            raise StsFault("UnsupportedHTTPMethod", 405, "This http method is not supported.")
        params = await _params(request)
        # With no Format, STS answers XML (§1.1); the match is case-insensitive.
        as_json = params.get("Format", "").upper() == "JSON"
        identity = verify(state, request.method, params)
    except StsFault as fault:
        return _error(fault, host, request_id, as_json)
    return _render("GetCallerIdentityResponse", _identity_body(identity, request_id), 200, as_json)


def build_emulator_app(
    identities: list[Identity],
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    max_skew_seconds: int = 900,
) -> Starlette:
    """The emulator; its state (counters, fault switch) is `app.state.emulator`."""
    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    app = Starlette(routes=[Route("/{path:path}", _handle, methods=methods)])
    app.state.emulator = EmulatorState(identities, clock, max_skew_seconds)
    return app


async def serve_emulator(
    host: str,
    port: int,
    identities: list[Identity],
    *,
    app: Starlette | None = None,
    sock: socket.socket | None = None,
) -> None:
    """Serve the emulator under Hypercorn until this task is cancelled.

    `sock`, a bound listening socket, replaces host/port: binding port 0 first lets a caller
    learn the port before serving (connections wait in the backlog until Hypercorn accepts).
    The socket stays the caller's to close; Hypercorn gets a duplicate.
    """
    config = Config()
    config.bind = [f"fd://{os.dup(sock.fileno())}"] if sock else [f"{host}:{port}"]
    config.accesslog = None
    config.loglevel = "WARNING"  # no "Running on ... CTRL + C" banner inside another server
    config.graceful_timeout = 1.0  # a stopping emulator must not linger on a slow request
    # Starlette is an ASGI app; its own type aliases just differ from Hypercorn's.
    asgi = cast(ASGIFramework, app or build_emulator_app(identities))
    # Cancelling Hypercorn's `serve` directly can hang it (a cancel during the lifespan
    # handshake leaves it waiting forever), so it runs as its own task and a cancellation of
    # ours becomes its shutdown trigger (a trigger also keeps it off the signal handlers).
    stop = asyncio.Event()
    server = asyncio.create_task(serve(asgi, config, shutdown_trigger=stop.wait))
    try:
        await asyncio.shield(server)
    except asyncio.CancelledError:
        stop.set()
        await server
        raise
