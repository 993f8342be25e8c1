"""Serving the app with granian (Rust, hyper): its ASGI interface, through its Python API.

What granian provides and how wardgate's settings map onto it:
- `workers` processes (forked) share one listening socket; each builds the app from the same
  Config and runs the ASGI lifespan (storage open, sweeper) itself.
- `http_read_header_timeout` is hyper's header read timeout (HTTP/1.1 only is served); hyper
  runs it while a keep-alive connection waits for its next request too, so it also closes
  idle connections (`http_idle_timeout` can only shorten it).
- `max_connections` is granian's `backpressure`: a worker holds at most that many open
  connections; more wait in the kernel's accept queue and are taken as soon as one closes,
  so a flood never runs a worker out of file descriptors.
- `http_read_timeout` (the body) is enforced in the ASGI layer (core/listener.py).
- A request with both Content-Length and Transfer-Encoding: hyper frames it by
  Transfer-Encoding alone, hides Content-Length from the app and closes the connection after
  the answer (RFC 9112 6.1), so nothing can be smuggled behind it.
- SIGTERM/SIGINT: the main process stops accepting, each worker lets its in-flight requests
  finish, and a worker still busy after STOP_TIMEOUT seconds is killed.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
from pathlib import Path
from typing import Any

from granian.constants import HTTPModes, Interfaces, SSLProtocols
from granian.http import HTTP1Settings
from granian.log import LogLevels
from granian.server.mp import MPServer

from core.config import Config
from core.server.startup import head_timeout

# Seconds the workers may take to finish their in-flight requests after a stop signal; a
# worker still busy then is killed (the whole stop stays well within 10 s).
STOP_TIMEOUT = 5

# granian logs through its own loggers ("_granian" for the server, "granian.access"); route
# the first into wardgate's handler and silence the second (wardgate has `log.requests`).
_LOGGING: dict[str, Any] = {
    "loggers": {
        "_granian": {"handlers": [], "propagate": True},
        "granian.access": {"handlers": [], "propagate": False, "level": "CRITICAL"},
    }
}


class _Server(MPServer):
    def shutdown(self, exit_code: int = 0) -> None:
        # Asked to stop (a signal to the whole process group reaches the workers too): a
        # worker that finished before this process noticed the signal did not fail.
        if self.interrupt_signal:
            self.interrupt_children.clear()
        super().shutdown(exit_code)  # type: ignore[no-untyped-call]


def granian_options(config: Config, connection_cap: int) -> dict[str, Any]:
    """The settings both granian servers (multi-process and embedded) take from the config."""
    server_cfg = config.server
    host, port = server_cfg.host_port
    options: dict[str, Any] = {
        "address": host,
        "port": port,
        "interface": Interfaces.ASGI,
        "http": HTTPModes.http1,
        "websockets": False,
        "backlog": max(1024, connection_cap),
        "backpressure": connection_cap,
        "http1_settings": HTTP1Settings(header_read_timeout=head_timeout(config) * 1000),
        "log_enabled": True,
        "log_level": LogLevels(config.log.level.lower()),
        "log_dictconfig": _LOGGING,
        "log_access": False,
    }
    if server_cfg.tls_cert_file:
        options["ssl_cert"] = Path(server_cfg.tls_cert_file)
        options["ssl_key"] = Path(server_cfg.tls_key_file)
        options["ssl_protocol_min"] = SSLProtocols.tls12  # Vault's default minimum
    return options


def serve_granian(config: Config, *, workers: int, connection_cap: int) -> int:
    """Serve with `workers` processes until SIGTERM/SIGINT; returns the exit code."""
    server = _Server(
        target="wardgate",  # a name for granian's logs; the app comes from the loader
        workers=workers,
        workers_kill_timeout=STOP_TIMEOUT,
        **granian_options(config, connection_cap),
    )
    server.serve(target_loader=functools.partial(_worker_app, config), wrap_loader=False)
    return 0


async def serve_granian_embedded(app: Any, config: Config, connection_cap: int) -> None:
    """Serve `app` on this process's running event loop until SIGTERM/SIGINT (the dev server,
    which runs local stand-ins such as the STS emulator on the same loop)."""
    from granian.server.embed import Server as EmbeddedServer

    logging.getLogger("_granian").addFilter(_not_experimental)
    server = EmbeddedServer(app, **granian_options(config, connection_cap))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, server.stop)
    try:
        await server.serve()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _not_experimental(record: logging.LogRecord) -> bool:
    # The embedded server announces itself as experimental on every start; the dev server
    # is a trial server by design, so the warning tells its user nothing.
    return "experimental" not in record.getMessage()


def _worker_app(config: Config) -> Any:
    """Runs in each worker process: the app, built from the Config the main process read."""
    from core.app import build_app
    from core.logs import setup_logging

    setup_logging(config.log)
    logging.getLogger("_granian").setLevel(logging.getLogger().level)
    return build_app(config, signals=True)
