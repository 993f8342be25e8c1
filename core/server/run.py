"""`wardgate server`: check everything that can fail, initialise storage, print the root token
once, then serve with the configured HTTP server (granian or Hypercorn).

Order matters: a start that fails must fail before the store is initialised, or the root token
of a new database would be printed (and the database marked initialised) by a server that
never ran. So storage path and permissions, TLS files and the listen address are checked
first (startup.py); the store is initialised next; the HTTP server binds last.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import Any

from core.config import AuthMountConfig, Config, normalize_mount_path
from core.framework.aio import run_event_loop
from core.logs import setup_logging
from core.metrics import prepare_dir
from core.quotas.limiter import RUN_DIR_ENV
from core.registry import PluginRegistry, default_registry
from core.runtime import Runtime
from core.server.startup import (
    StartError,
    cannot_start,
    check_start,
    connection_cap,
    raise_fd_limit,
)
from core.tokens.store import random_id

log = logging.getLogger("wardgate")


async def initialize(config: Config, registry: PluginRegistry) -> str | None:
    """Check what can fail, then prepare storage (token mount, config mounts, keys); returns a
    new root token on the very first start of a database, None on every later start."""
    await check_start(config.server, config.storage)
    runtime = Runtime(config, registry)
    await runtime.start(sweep=False)
    try:
        return await runtime.generate_root_token()
    finally:
        await runtime.stop()


def prepare_run_dir(config: Config) -> None:
    """The directory the workers of this server share: their metrics (prometheus_client's
    multiprocess files) and the rate limiter's counters. Emptied now, before any worker (or
    prometheus_client) starts; the limiter finds it through WARDGATE_RUN_DIR."""
    path = prepare_dir(config.telemetry.multiprocess_dir)
    os.environ[RUN_DIR_ENV] = path


def serve(config: Config, config_path: str | None) -> int:
    setup_logging(config.log)
    prepare_run_dir(config)
    try:
        root_token = run_event_loop(initialize(config, default_registry()))
    except Exception as exc:
        # StartError, and also bad plugin options in [auth.config], an unknown auth type, a
        # missing secret, a file that is not a database: one line each.
        return cannot_start(exc)
    if root_token is not None:
        print(f"Root token: {root_token}", file=sys.stderr, flush=True)
        print("(shown once: store it safely; only its hash is kept)", file=sys.stderr, flush=True)
    server = config.server
    workers = server.worker_count
    cap = connection_cap(server, raise_fd_limit())
    scheme = "https" if server.tls_cert_file else "http"
    log.info(
        "listening on %s://%s with %s (%d worker(s))", scheme, server.address, server.http, workers
    )
    try:
        if server.http == "hypercorn":
            from core.server.hypercorn_runner import serve_hypercorn

            return serve_hypercorn(config, config_path, workers=workers)
        from core.server.granian_runner import serve_granian

        return serve_granian(config, workers=workers, connection_cap=cap)
    except (OSError, RuntimeError) as exc:  # the address was taken after the check
        return cannot_start(StartError(f"cannot listen: {exc} ({server.address})"))


def serve_dev(config: Config, root_token_id: str | None) -> int:
    setup_logging(config.log)
    prepare_run_dir(config)
    config.storage.backend = "memory"
    config.server.workers = 1
    root_token = root_token_id or ("s." + random_id(24))
    try:
        run_event_loop(_serve_dev(config, root_token))
    except Exception as exc:
        return cannot_start(exc)
    return 0


async def _serve_dev(config: Config, root_token: str) -> None:
    from core.app import build_app

    await check_start(config.server, config.storage)
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
        app = build_app(
            config, registry=registry, root_token=root_token, dev_mode=True, signals=True
        )
        _print_dev_banner(address, root_token, config, banners)
        await _serve_in_process(app, config)


async def _serve_in_process(app: Any, config: Config) -> None:
    if config.server.http == "hypercorn":
        from core.server.hypercorn_runner import hypercorn_config, serve_in_process

        await serve_in_process(app, hypercorn_config(config))
        return
    from core.server.granian_runner import serve_granian_embedded

    await serve_granian_embedded(app, config, connection_cap(config.server, raise_fd_limit()))


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
