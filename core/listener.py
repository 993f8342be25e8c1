"""What the listener guarantees whichever HTTP server (granian or Hypercorn) runs the app: one
ASGI layer in front of the pipeline, so nothing above or below it knows the server.

- The client address: from `X-Forwarded-For` only when the peer is a trusted proxy
  (`server.trusted_proxies`), taking the rightmost hop that is not itself a trusted proxy;
  from anyone else the header is ignored. Everything downstream (bound CIDRs, access logs)
  reads `scope["client"]`, which is rewritten here.
- A request with both Content-Length and Transfer-Encoding is refused with 400 and the
  connection closed (RFC 9112 6.1: a request smuggling vector), whatever the server made of it.
- The body must arrive within `server.http_read_timeout` of the request; a stalled body is
  answered 408 with `Connection: close`, so the connection is dropped.
- A client that goes away mid-request is one INFO line: its disconnect becomes an error the
  pipeline answers like any client mistake, and a reply it can no longer receive is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.config import ServerConfig, duration
from core.framework.envelope import encode_errors
from core.framework.errors import WardgateError

log = logging.getLogger("wardgate.listener")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class RequestTimeout(WardgateError):
    """The body did not arrive within `http_read_timeout`: 408, and the connection closes."""

    status = 408


class ClientGone(WardgateError):
    """The body ended early: the client disconnected, or (granian reports both alike) sent a
    body that cannot be decoded, such as broken chunked encoding. 400 for a client still
    there to read it."""

    status = 400


def parse_networks(cidrs: list[str]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def client_address(peer: str, forwarded: list[bytes], trusted: tuple[IPNetwork, ...]) -> str | None:
    """The client address for a request from `peer` carrying these `X-Forwarded-For` values
    (in header order); None when the header is unusable (a trusted proxy sent garbage).

    Walk the hops from the right: each address appended by a trusted proxy is skipped, the
    first one that is not trusted is the client. If every hop is trusted, the leftmost is."""
    if not forwarded or not _is_trusted(peer, trusted):
        return peer
    hops = [h.strip() for v in forwarded for h in v.decode("latin-1").split(",")]
    hops = [h for h in hops if h]
    if not hops:
        return peer
    for hop in reversed(hops):
        try:
            address = ipaddress.ip_address(hop)
        except ValueError:
            return None
        if not any(address in net for net in trusted):
            return str(address)
    return str(ipaddress.ip_address(hops[0]))


def _is_trusted(peer: str, trusted: tuple[IPNetwork, ...]) -> bool:
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in net for net in trusted)


class ListenerGuard:
    def __init__(self, app: ASGIApp, server: ServerConfig) -> None:
        self._app = app
        self._trusted = parse_networks(server.trusted_proxies)
        self._read_timeout = float(duration(server.http_read_timeout, "http_read_timeout"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        has_length = has_encoding = False
        forwarded: list[bytes] = []
        for name, value in scope["headers"]:
            if name == b"content-length":
                has_length = True
            elif name == b"transfer-encoding":
                has_encoding = True
            elif name == b"x-forwarded-for":
                forwarded.append(value)
        if has_length and has_encoding:
            log.info(
                "%s %s refused (400): Content-Length and Transfer-Encoding together",
                scope["method"],
                scope["path"],
            )
            await _plain_error(send, 400, "Content-Length and Transfer-Encoding together")
            return
        if self._trusted and forwarded and scope.get("client"):
            peer, port = scope["client"]
            address = client_address(peer, forwarded, self._trusted)
            if address is None:
                await _plain_error(send, 400, "invalid X-Forwarded-For header", close=False)
                return
            scope["client"] = (address, port)
        connection = _Connection(receive, send, self._read_timeout)
        await self._app(scope, connection.receive, connection.send)
        if connection.send_failed:
            log.info(
                "%s %s: the client went away before the answer was sent",
                scope["method"],
                scope["path"],
            )


class _Connection:
    """One request's receive/send with the body deadline and the disconnect handling."""

    __slots__ = ("_deadline", "_receive", "_send", "_timeout", "body_done", "close", "send_failed")

    def __init__(self, receive: Receive, send: Send, timeout: float) -> None:
        self._receive = receive
        self._send = send
        self._timeout = timeout
        # The clock starts when the request reaches the app, not at the first read: the
        # pipeline checks the token before it reads the body, and the server's own read
        # timeout (Hypercorn's, the same length) is already running.
        self._deadline: float | None = asyncio.get_running_loop().time() + timeout
        self.body_done = False
        self.close = False  # answer with Connection: close (the body was not read whole)
        self.send_failed = False

    async def receive(self) -> Message:
        if self.body_done:
            return await self._receive()
        loop = asyncio.get_running_loop()
        if self._deadline is None:
            self._deadline = loop.time() + self._timeout
        try:
            async with asyncio.timeout_at(self._deadline):
                message = await self._receive()
        except TimeoutError:
            self.close = True
            raise RequestTimeout(
                "request body not received in time",
                log_detail=f"no complete body within http_read_timeout ({self._timeout:g} s)",
            ) from None
        if message["type"] == "http.disconnect":
            self.body_done = True
            raise ClientGone(
                "request body incomplete: the client disconnected or sent a malformed body"
            )
        if not message.get("more_body", False):
            self.body_done = True
        return message

    async def send(self, message: Message) -> None:
        if self.send_failed:
            return
        if self.close and message["type"] == "http.response.start":
            headers = [*message.get("headers", []), (b"connection", b"close")]
            message = {**message, "headers": headers}
        try:
            await self._send(message)
        except Exception:  # the transport is gone: nothing a client did is a server error
            self.send_failed = True


async def _plain_error(send: Send, status: int, message: str, *, close: bool = True) -> None:
    payload = encode_errors([message])
    headers = [
        (b"content-type", b"application/json"),
        (b"cache-control", b"no-store"),
        (b"content-length", str(len(payload)).encode()),
    ]
    if close:
        headers.append((b"connection", b"close"))
    with contextlib.suppress(Exception):  # the client may be gone already
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
