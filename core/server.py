"""`wardgate server`: initialise storage, print the root token once, serve with Hypercorn.

With `workers > 1` Hypercorn spawns worker processes that share the listening sockets; each
builds its own app from the same config file (named in WARDGATE_CONFIG_FILE), and they agree
with each other because all state lives in storage.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from hypercorn.config import Config as HypercornConfig

from core.app import build_app
from core.config import (
    AuthMountConfig,
    Config,
    ConfigError,
    load_config,
    normalize_mount_path,
)
from core.framework.errors import WardgateError
from core.logs import setup_logging
from core.registry import PluginRegistry, default_registry
from core.runtime import Runtime
from core.tokens.store import random_id

CONFIG_ENV = "WARDGATE_CONFIG_FILE"
log = logging.getLogger("wardgate")


def hypercorn_config(config: Config) -> HypercornConfig:
    hc = HypercornConfig()
    hc.bind = [config.server.address]
    hc.workers = config.server.workers
    hc.worker_class = "uvloop" if _has_uvloop() else "asyncio"
    hc.accesslog = None
    hc.errorlog = logging.getLogger("hypercorn.error")
    hc.graceful_timeout = 5
    if config.server.tls_cert_file:
        hc.certfile = config.server.tls_cert_file
        hc.keyfile = config.server.tls_key_file
    return hc


def _has_uvloop() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


async def initialize(config: Config, registry: PluginRegistry) -> str | None:
    """Prepare storage (token mount, config mounts, keys); returns a new root token on the very
    first start of a database, None on every later start."""
    runtime = Runtime(config, registry)
    await runtime.start(sweep=False)
    try:
        return await runtime.generate_root_token()
    finally:
        await runtime.stop()


def serve(config: Config, config_path: str | None) -> int:
    setup_logging(config.log)
    registry = default_registry()
    try:
        root_token = run_event_loop(initialize(config, registry))
    except (ConfigError, WardgateError) as exc:
        # Bad plugin options in [auth.config], an unknown auth type, a missing secret: say
        # which, and stop before listening.
        print(f"wardgate: cannot start: {getattr(exc, 'message', None) or exc}", file=sys.stderr)
        return 1
    if root_token is not None:
        print(f"Root token: {root_token}", file=sys.stderr, flush=True)
        print("(shown once: store it safely; only its hash is kept)", file=sys.stderr, flush=True)
    scheme = "https" if config.server.tls_cert_file else "http"
    log.info(
        "listening on %s://%s (%d worker(s))", scheme, config.server.address, config.server.workers
    )
    if config.server.workers == 1:
        app = build_app(config, registry=registry)
        run_event_loop(_serve_in_process(app, hypercorn_config(config)))
        return 0
    from hypercorn.run import run

    if config_path is None:
        raise SystemExit("workers > 1 needs --config (each worker reads the same file)")
    os.environ[CONFIG_ENV] = str(Path(config_path).resolve())
    hc = hypercorn_config(config)
    hc.application_path = "core.server:worker_app"
    return run(hc)


class _WorkerApp:
    """The ASGI app of a spawned worker: built on first use from the config file, so importing
    this module does nothing."""

    def __init__(self) -> None:
        self._app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._app is None:
            config = load_config(os.environ[CONFIG_ENV])
            setup_logging(config.log)
            self._app = build_app(config)
        await self._app(scope, receive, send)


worker_app = _WorkerApp()


def serve_dev(config: Config, root_token_id: str | None) -> int:
    setup_logging(config.log)
    config.storage.backend = "memory"
    config.server.workers = 1
    root_token = root_token_id or ("s." + random_id(24))
    run_event_loop(_serve_dev(config, root_token))
    return 0


async def _serve_dev(config: Config, root_token: str) -> None:
    registry = default_registry()
    address = config.server.address
    async with contextlib.AsyncExitStack() as stack:
        banners: list[str] = []
        configured_types = {m.type for m in config.auth}
        for type_ in registry.types():
            spec = registry.get(type_)
            if spec is None or spec.dev is None or type_ in configured_types:
                continue  # mounts from the config file are used exactly as given
            env = await stack.enter_async_context(spec.dev(f"http://{address}"))
            config.auth.append(
                AuthMountConfig(path=env.mount_path, type=type_, config=env.mount_config)
            )
            banners.extend(env.banner)
        app = build_app(config, registry=registry, root_token=root_token, dev_mode=True)
        _print_dev_banner(address, root_token, config, banners)
        await _serve_in_process(app, hypercorn_config(config))


def _print_dev_banner(address: str, root_token: str, config: Config, banners: list[str]) -> None:
    mounts = ", ".join(f"auth/{normalize_mount_path(m.path)} ({m.type})" for m in config.auth)
    lines = [
        "wardgate dev server: in-memory storage, everything is lost on exit.",
        f"  Address:    http://{address}",
        f"  Root token: {root_token}",
        f"  Mounts:     auth/token/{', ' + mounts if mounts else ''}",
        "",
        f"  export WARDGATE_ADDR=http://{address} WARDGATE_TOKEN={root_token}",
        *banners,
    ]
    print("\n".join(lines), file=sys.stderr, flush=True)


async def _serve_in_process(app: Any, hc: HypercornConfig) -> None:
    from hypercorn.asyncio import serve as hypercorn_serve

    async with _shutdown_on_signal() as stopped:
        await hypercorn_serve(app, hc, shutdown_trigger=stopped.wait)


@contextlib.asynccontextmanager
async def _shutdown_on_signal() -> AsyncIterator[asyncio.Event]:
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopped.set)
    try:
        yield stopped
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def run_event_loop(coro: Any) -> Any:
    """Run `coro` to completion on uvloop when installed (what the workers use), else asyncio."""
    if _has_uvloop():
        import uvloop

        return uvloop.run(coro)
    return asyncio.run(coro)
