"""`build_app(config)`: the whole server as one ASGI application."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.types import ASGIApp, Lifespan, Receive, Scope, Send

from core.config import Config
from core.listener import ListenerGuard
from core.logs import quiet_http_clients
from core.pipeline import Pipeline
from core.registry import PluginRegistry, default_registry
from core.runtime import Runtime
from core.storage.base import Storage


def build_app(
    config: Config | None = None,
    *,
    registry: PluginRegistry | None = None,
    storage: Storage | None = None,
    root_token: str | None = None,
    runtime: Runtime | None = None,
    dev_mode: bool = False,
    signals: bool = False,
) -> Starlette:
    """Build the server. Storage opens and mounts load at startup (the ASGI lifespan).

    `root_token` creates a root token with that id if it does not exist (dev mode and tests).
    `signals`: this is a server process, so SIGHUP reopens its audit files (log rotation).
    """
    config = config or Config()
    quiet_http_clients()  # embedded or tested without `wardgate server`, secrets stay out of logs
    if runtime is None:
        runtime = Runtime(
            config,
            registry or default_registry(),
            storage=storage,
            dev_mode=dev_mode,
        )
    active = runtime

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await active.start()
        if signals:
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, active.audit.reopen)
        if root_token is not None:
            await active.generate_root_token(root_token)
        # Everything alive now (modules, plugins, compiled patterns) lives as long as the
        # process: keep it out of the cycle collector's full scans, which otherwise pause a
        # request for ~10 ms now and then (measured under login load).
        gc.freeze()
        try:
            yield
        finally:
            await active.stop()

    app = WardgateApp(ListenerGuard(Pipeline(active), active.config.server), lifespan=lifespan)
    app.state.runtime = active
    return app


class WardgateApp(Starlette):
    """Starlette runs the lifespan; HTTP requests go straight to the pipeline, which answers
    every error itself, so Starlette's routing and middleware layers are skipped on the hot
    path (they cost a measurable share of each request)."""

    def __init__(self, pipeline: ASGIApp, *, lifespan: Lifespan[Starlette]) -> None:
        super().__init__(lifespan=lifespan)
        self._pipeline = pipeline

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._pipeline(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)
