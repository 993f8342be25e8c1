"""Start-up checks, run before the store is initialised and a root token printed: whatever can
make a start fail (storage path and permissions, TLS files, the listen socket) fails here, as one
line `wardgate: cannot start: <what> (<file/port/path>)`, with the detail at debug level.
"""

from __future__ import annotations

import errno
import logging
import resource
import socket
import ssl
import sys

from core.config import Config, ServerConfig, StorageConfig, duration, split_address
from core.storage import StorageUnavailable, check_storage

log = logging.getLogger("wardgate")

# Descriptors a worker keeps for itself beyond its connections (database, logs, pipes, the
# outbound STS connections).
RESERVED_FDS = 256


class StartError(Exception):
    """The server cannot start; the message says what, and names the file, port or path."""


def cannot_start(exc: BaseException) -> int:
    """Print the one line for a failed start; the traceback only at debug level."""
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    log.debug("start-up failed", exc_info=exc)
    print(f"wardgate: cannot start: {message}", file=sys.stderr, flush=True)
    return 1


async def check_start(server: ServerConfig, storage: StorageConfig) -> None:
    """Storage, TLS files and the listen address, in that order; raises StartError."""
    try:
        await check_storage(storage.backend, storage.path)
    except StorageUnavailable as exc:
        raise StartError(str(exc)) from exc
    check_tls(server)
    check_listen(server)


def check_tls(server: ServerConfig) -> None:
    if not server.tls_cert_file:
        return
    for key, path in (
        ("tls_cert_file", server.tls_cert_file),
        ("tls_key_file", server.tls_key_file),
    ):
        try:
            with open(path, "rb"):
                pass
        except OSError as exc:
            reason = (exc.strerror or str(exc)).lower()
            raise StartError(f"cannot read server.{key}: {reason} ({path})") from exc
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(server.tls_cert_file, server.tls_key_file)
    except (ssl.SSLError, ValueError) as exc:
        raise StartError(
            "server.tls_cert_file and tls_key_file are not a PEM certificate and its key "
            f"({server.tls_cert_file}, {server.tls_key_file})"
        ) from exc


def check_listen(server: ServerConfig) -> None:
    """Bind the address once, as the server will (SO_REUSEADDR), and let it go again."""
    try:
        host, port = split_address(server.address)
    except ValueError as exc:
        raise StartError(f"server.address {exc}") from None
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except UnicodeError as exc:
            raise StartError(f"cannot resolve the listen host ({server.address})") from exc
        except OSError as exc:  # socket.gaierror included
            raise StartError(f"{_bind_reason(exc)} ({server.address})") from exc


def _bind_reason(exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return "the listen address is already in use"
    if exc.errno == errno.EACCES:
        return "no permission to listen on this port"
    if exc.errno == errno.EADDRNOTAVAIL:
        return "the listen address is not an address of this machine"
    if isinstance(exc, socket.gaierror):
        return "cannot resolve the listen host"
    return f"cannot listen: {(exc.strerror or str(exc)).lower()}"


def raise_fd_limit() -> int:
    """Raise the soft limit of open files to the hard limit (the kernel's bound for this
    process) and return it: connections are file descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft == resource.RLIM_INFINITY or soft >= hard:
        return hard if soft == resource.RLIM_INFINITY else soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        return soft
    return hard


def connection_cap(server: ServerConfig, fd_limit: int) -> int:
    """`max_connections`, lowered so that a worker's connections can never use up its file
    descriptors."""
    room = max(16, fd_limit - RESERVED_FDS)
    if server.max_connections > room:
        log.warning(
            "server.max_connections = %d is more than the open-file limit allows; using %d",
            server.max_connections,
            room,
        )
        return room
    return server.max_connections


def head_timeout(config: Config) -> int:
    """Seconds a connection may wait for a complete request head. hyper (and Hypercorn) run
    this timer from the moment a connection is idle, so it is also the idle keep-alive limit:
    the shorter of the two settings."""
    server = config.server
    return min(
        duration(server.http_read_header_timeout, "http_read_header_timeout"),
        duration(server.http_idle_timeout, "http_idle_timeout"),
    )
