"""File sinks: the token only, no trailing newline, written to a temporary file in the same
folder and renamed over the target (a reader never sees a partial token), with the configured
mode whatever the umask, and rewritten only when the token changes."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from core.agent.config import FileSink

log = logging.getLogger("wardgate.agent")


class SinkError(OSError):
    """A sink cannot be written; the message names the file."""


class FileSinkWriter:
    def __init__(self, sink: FileSink) -> None:
        self.sink = sink
        self._written: str | None = None

    def check_writable(self) -> None:
        """At start, as Vault Agent does: create and remove a temporary file next to it."""
        tmp = self._tmp_path()
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, self.sink.mode))
            tmp.unlink()
        except OSError as exc:
            raise SinkError(f"sink {self.sink.path} is not writable: {exc.strerror}") from None

    def write(self, token: str) -> bool:
        """Write `token` unless the file already holds it; True when the file changed."""
        if token == self._written:
            return False
        tmp = self._tmp_path()
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, self.sink.mode)
            try:
                os.fchmod(fd, self.sink.mode)  # the umask does not decide the mode
                os.write(fd, token.encode())
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.sink.path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise SinkError(f"cannot write sink {self.sink.path}: {exc.strerror}") from None
        self._written = token
        return True

    def _tmp_path(self) -> Path:
        return self.sink.path.with_name(f"{self.sink.path.name}.tmp.{secrets.token_hex(4)}")
