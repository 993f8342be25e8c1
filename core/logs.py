"""Server logging: plain text or one JSON object per line. Tokens and signatures never reach a
log line: code logs accessors, hashes and error codes, never secrets."""

from __future__ import annotations

import logging
import sys
import time

import msgspec

from core.config import LogConfig


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created)),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return msgspec.json.encode(entry).decode()


def setup_logging(config: LogConfig) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if config.format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    level = logging.getLevelName(config.level.upper())
    root.setLevel(level if isinstance(level, int) else logging.INFO)
    quiet_http_clients()


def quiet_http_clients() -> None:
    """A replayed STS request's URL carries its Signature and SecurityToken, so no HTTP client
    logger may go below WARNING. httpx and httpcore (the login helper, the CLI) log every request
    URL at INFO/DEBUG. aiohttp (the STS replay) logs no URL at any level today (checked in 3.14:
    `aiohttp.client` and `aiohttp.internal` log netrc, cookie and stream notices); they are held
    at WARNING too, so a debug line added by a later version cannot leak one."""
    for name in ("httpx", "httpcore", "aiohttp.client", "aiohttp.internal"):
        logging.getLogger(name).setLevel(logging.WARNING)
