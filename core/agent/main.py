"""`wardgate agent -config FILE`: start-up checks, signals (SIGTERM/SIGINT stop, SIGHUP
reloads the config), the pid file, and the auto-auth loop."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from core.agent.client import make_http_client
from core.agent.config import AgentConfig, AgentConfigError, load_agent_config
from core.agent.lifecycle import AutoAuth, LoginBody
from core.agent.sink import FileSinkWriter, SinkError
from core.framework.aio import run_event_loop

log = logging.getLogger("wardgate.agent")
STOP_GRACE = 2.0  # seconds


def agent_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="wardgate agent",
        description="Log in with this machine's credentials, keep the token alive and write it "
        "to the configured sinks (Vault Agent's auto_auth). SIGHUP reloads the config; "
        "SIGTERM or Ctrl-C stops it.",
    )
    parser.add_argument(
        "-config",
        "--config",
        required=True,
        metavar="FILE",
        help="Vault Agent HCL, or TOML of the same structure (.toml)",
    )
    parser.add_argument(
        "-log-level", "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    opts = parser.parse_args(argv)
    _setup_logging(opts.log_level)
    try:
        config = checked_config(opts.config)
        pid_file = _write_pid(config.pid_file)
    except (AgentConfigError, SinkError) as exc:
        print(f"wardgate agent: cannot start: {exc}", file=sys.stderr)
        return 1
    try:
        return int(run_event_loop(_run(opts.config, config)))
    finally:
        if pid_file is not None:
            pid_file.unlink(missing_ok=True)


def checked_config(path: str) -> AgentConfig:
    """The config, with its method's arguments known to a plugin and its sinks writable."""
    config = load_agent_config(path)
    login_helper(config)
    for sink in config.sinks:
        FileSinkWriter(sink).check_writable()
    return config


def infisical_method(config: AgentConfig) -> str:
    """The Infisical auth method the method's plugin serves ("" if none): a login body that
    names a machine identity goes there."""
    from core.registry import default_registry

    spec = default_registry().get(config.method.type)
    return spec.infisical_method if spec is not None else ""


def login_helper(config: AgentConfig) -> LoginBody:
    from core.registry import default_registry

    method = config.method
    spec = default_registry().get(method.type)
    where = f'auto_auth.method "{method.type}"'
    if spec is None or spec.login is None:
        raise AgentConfigError(f"{where}: wardgate has no login helper for this method")
    for key in sorted(set(method.config) - set(spec.login_args)):
        raise AgentConfigError(f"unknown or unsupported key {where}.config.{key}")
    helper = spec.login
    arguments = dict(method.config)

    async def body() -> dict[str, Any]:
        return await helper(arguments)

    return body


async def _run(path: str, config: AgentConfig) -> int:
    loop = asyncio.get_running_loop()
    stopped, reload = asyncio.Event(), asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopped.set)
    loop.add_signal_handler(signal.SIGHUP, reload.set)
    while True:
        log.info(
            "agent started: %s, %d sink(s), server %s",
            config.method.mount_path,
            len(config.sinks),
            config.server.address,
        )
        run_stopped = asyncio.Event()
        async with make_http_client(config.server) as http:
            auto = AutoAuth(
                config,
                http,
                login_helper(config),
                [FileSinkWriter(s) for s in config.sinks],
                run_stopped,
                infisical_method(config),
            )
            task = asyncio.create_task(auto.run())
            waiters = [asyncio.create_task(e.wait()) for e in (stopped, reload)]
            await asyncio.wait([task, *waiters], return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()
            run_stopped.set()
            # The loop notices at its next wait; a request in flight gets a moment to finish.
            done, _ = await asyncio.wait([task], timeout=STOP_GRACE)
            if not done:
                task.cancel()
            code = 0 if not done else task.result()
        if stopped.is_set():
            log.info("agent stopped")
            return 0
        if not reload.is_set():
            return code
        reload.clear()
        config = _reloaded(path, config)


def _reloaded(path: str, current: AgentConfig) -> AgentConfig:
    try:
        config = checked_config(path)
    except (AgentConfigError, SinkError) as exc:
        log.error("config not reloaded, keeping the current one: %s", exc)
        return current
    log.info("config reloaded from %s; logging in again", path)
    return config


def _write_pid(name: str) -> Path | None:
    if not name:
        return None
    path = Path(name)
    try:
        path.write_text(f"{os.getpid()}\n")
    except OSError as exc:
        raise SinkError(f"cannot write the pid file {path}: {exc.strerror}") from None
    return path


def _setup_logging(level: str) -> None:
    from core.logs import quiet_http_clients

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    quiet_http_clients()
