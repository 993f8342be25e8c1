"""Serving the app with Hypercorn (pure Python, h11): `[server] http = "hypercorn"`.

With `workers > 1` Hypercorn spawns worker processes that share the listening socket; each
builds its own app from the same config file (named in WARDGATE_CONFIG_FILE). How the listener
settings map (Hypercorn has fewer knobs than granian; the README says what holds where):
- `http_read_header_timeout` is Hypercorn's keep-alive timeout, which runs from the moment a
  connection is idle until a whole request head has arrived: it bounds a slow head and an idle
  keep-alive connection alike (as under granian; `http_idle_timeout` can only shorten it).
- `http_read_timeout` is its read timeout: no single read waits longer; the whole body is
  bounded in the ASGI layer (core/listener.py).
- Hypercorn has no connection cap: `max_connections` applies under granian only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from hypercorn.config import Config as HypercornConfig

from core.config import Config, duration, load_config
from core.framework.aio import has_uvloop, run_event_loop
from core.server.startup import head_timeout

CONFIG_ENV = "WARDGATE_CONFIG_FILE"
# Seconds in-flight requests get to finish after a stop signal (the whole stop stays
# well within 10 s).
STOP_TIMEOUT = 5


def hypercorn_config(config: Config, *, workers: int = 1) -> HypercornConfig:
    server = config.server
    hc = HypercornConfig()
    hc.bind = [server.address]
    hc.workers = workers
    hc.worker_class = "uvloop" if has_uvloop() else "asyncio"
    hc.accesslog = None
    hc.errorlog = logging.getLogger("hypercorn.error")
    hc.graceful_timeout = STOP_TIMEOUT
    hc.keep_alive_timeout = head_timeout(config)
    hc.read_timeout = duration(server.http_read_timeout, "http_read_timeout")
    hc.include_server_header = False
    if server.tls_cert_file:
        hc.certfile = server.tls_cert_file
        hc.keyfile = server.tls_key_file
    return hc


def _not_a_cancelled_connection(record: logging.LogRecord) -> bool:
    # A request still in flight when the stop's grace period ends is cancelled; on Python
    # 3.11 asyncio then logs the cancelled connection task as "Exception in callback" with a
    # traceback. That is the bounded stop working, not an error.
    return not (record.exc_info and record.exc_info[0] is asyncio.CancelledError)


def quiet_stop() -> None:
    logging.getLogger("asyncio").addFilter(_not_a_cancelled_connection)


def serve_hypercorn(config: Config, config_path: str | None, *, workers: int) -> int:
    quiet_stop()
    if workers == 1:
        from core.app import build_app

        run_event_loop(serve_in_process(build_app(config, signals=True), hypercorn_config(config)))
        return 0
    from hypercorn.run import run

    if config_path is None:
        raise SystemExit("workers > 1 needs --config (each worker reads the same file)")
    os.environ[CONFIG_ENV] = str(Path(config_path).resolve())
    hc = hypercorn_config(config, workers=workers)
    hc.application_path = "core.server.hypercorn_runner:worker_app"
    # Hypercorn's workers stop when the main process sets their shared shutdown event (it
    # handles SIGINT/SIGTERM); it spawns them with SIGINT ignored but SIGTERM at its default,
    # so a SIGTERM to the whole process group (systemd, `kill -- -PGID`) would kill them
    # mid-request. An ignored signal stays ignored in a spawned child; Hypercorn installs the
    # main process's own handler right after spawning.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    return run(hc)


class _WorkerApp:
    """The ASGI app of a spawned worker: built on first use from the config file, so importing
    this module does nothing."""

    def __init__(self) -> None:
        self._app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._app is None:
            from core.app import build_app
            from core.logs import setup_logging

            config = load_config(os.environ[CONFIG_ENV])
            setup_logging(config.log)
            quiet_stop()
            self._app = build_app(config, signals=True)
        await self._app(scope, receive, send)


worker_app = _WorkerApp()


async def serve_in_process(app: Any, hc: HypercornConfig) -> None:
    """Serve `app` on this process's running event loop until SIGINT or SIGTERM."""
    from hypercorn.asyncio import serve as hypercorn_serve

    quiet_stop()
    async with shutdown_on_signal() as stopped:
        await hypercorn_serve(app, hc, shutdown_trigger=stopped.wait)


@contextlib.asynccontextmanager
async def shutdown_on_signal() -> AsyncIterator[asyncio.Event]:
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopped.set)
    try:
        yield stopped
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
