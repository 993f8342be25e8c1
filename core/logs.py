"""Server logging: plain text or one JSON object per line. Tokens and signatures never reach a
log line: code logs accessors, hashes and error codes, never secrets."""

from __future__ import annotations

import logging
import re
import sys
import time

import msgspec

from core.config import LogConfig

# Everything that could end or forge a log line, or drive a terminal: C0 controls (CR, LF, VT,
# FF, ESC, ...), DEL, C1 controls (NEL U+0085 among them) and the Unicode line and paragraph
# separators (U+2028, U+2029; `str.splitlines` and many log viewers break lines there).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape(text: str) -> str:
    """A log-safe rendering: every unsafe character as a visible `\\xNN` / `\\uNNNN`."""
    return _UNSAFE.sub(_escape_char, text)


class TextFormatter(logging.Formatter):
    """One line per record whatever the values in it say: the message, with every value a
    client or an upstream sent (paths, field values, status lines), is escaped as a whole.
    A traceback (the server's own text) keeps its lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape(record.message)
        return super().formatMessage(record)


def _escape_json(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


# JSON allows these raw inside strings; they are escaped too, so every line splitter sees one
# object per line (msgspec already escapes the C0 controls).
_JSON_LINE_BREAKERS = re.compile("[\x7f-\x9f\u2028\u2029]")


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
        return _JSON_LINE_BREAKERS.sub(_escape_json, msgspec.json.encode(entry).decode())


def setup_logging(config: LogConfig) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if config.format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
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
