"""Audit device types: `file` (a path, `stdout` or `discard`) and `socket` (tcp, udp, unix).

Each server process owns its devices. A file device appends each entry with one `write()` on an
`O_APPEND` descriptor, so the lines of several processes never interleave; `reopen()` (SIGHUP)
lets log rotation work. A socket device reconnects once and retries once on a failed write, as
Vault's does; a write that takes longer than `write_timeout` fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from typing import Protocol

from core.framework.errors import BadRequest
from core.framework.fields import parse_duration


class Device(Protocol):
    async def write(self, line: bytes) -> None:
        """Write one whole entry; raises OSError or TimeoutError when it could not."""

    def reopen(self) -> None: ...

    async def close(self) -> None: ...


def parse_mode(text: str) -> int:
    try:
        mode = int(text, 8)
    except ValueError:
        raise BadRequest(f'invalid file mode "{text}": an octal number like "0600"') from None
    if mode < 0 or mode > 0o777:
        raise BadRequest(f'invalid file mode "{text}"')
    if mode & 0o111:
        raise BadRequest(f'invalid file mode "{text}": executable bits are not allowed')
    return mode


class FileDevice:
    def __init__(self, path: str, mode: int) -> None:
        self._path = path
        self._mode = mode
        self._fd: int | None = None

    def _open(self) -> int:
        if self._path == "stdout":
            return 1
        parent = os.path.dirname(self._path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        flags = os.O_APPEND | os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC
        fd = os.open(self._path, flags, self._mode or 0o600)
        if self._mode:
            os.fchmod(fd, self._mode)
        return fd

    async def write(self, line: bytes) -> None:
        if self._path == "discard":
            return
        try:
            self._write(line)
        except OSError:
            self.reopen()  # as Vault: close, reopen, retry once
            self._write(line)

    def _write(self, line: bytes) -> None:
        if self._fd is None:
            self._fd = self._open()
        written = os.write(self._fd, line)
        if written != len(line):
            raise OSError(f"short write to {self._path}: {written} of {len(line)} bytes")

    def reopen(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None and fd != 1:
            with contextlib.suppress(OSError):
                os.close(fd)

    async def close(self) -> None:
        self.reopen()


class SocketDevice:
    def __init__(self, address: str, socket_type: str, write_timeout: float) -> None:
        self._address = address
        self._type = socket_type
        self._timeout = write_timeout or None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._udp: socket.socket | None = None
        self._lock = asyncio.Lock()

    async def write(self, line: bytes) -> None:
        async with self._lock:
            try:
                await self._send(line)
            except (OSError, TimeoutError):
                self._drop()
                await self._send(line)

    async def _send(self, line: bytes) -> None:
        if self._type == "udp":
            if self._udp is None:
                self._udp = _udp_socket(self._address)
            self._udp.send(line)
            return
        if (
            self._writer is None
            or self._reader is None
            or self._writer.is_closing()
            or self._reader.at_eof()  # the peer went away since the last entry
        ):
            self._drop()
            await asyncio.wait_for(self._connect(), self._timeout)
        assert self._writer is not None
        self._writer.write(line)
        await asyncio.wait_for(self._writer.drain(), self._timeout)

    async def _connect(self) -> None:
        if self._type == "unix":
            self._reader, self._writer = await asyncio.open_unix_connection(self._address)
        else:
            host, port = _host_port(self._address)
            self._reader, self._writer = await asyncio.open_connection(host, port)

    def _drop(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None
        if self._udp is not None:
            self._udp.close()
            self._udp = None

    def reopen(self) -> None:
        self._drop()

    async def close(self) -> None:
        self._drop()


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise BadRequest(f'invalid socket address "{address}": use host:port')
    return host.strip("[]"), int(port)


def _udp_socket(address: str) -> socket.socket:
    host, port = _host_port(address)
    info = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
    sock = socket.socket(info[0], socket.SOCK_DGRAM)
    sock.setblocking(False)
    sock.connect(info[4])
    return sock


_COMMON = {"format", "hmac_accessor", "log_raw", "prefix", "elide_list_responses", "skip_test"}
FILE_OPTIONS = _COMMON | {"file_path", "path", "mode"}
SOCKET_OPTIONS = _COMMON | {"address", "socket_type", "write_timeout"}


def build_device(device_type: str, options: dict[str, str]) -> Device:
    """A device from its options; BadRequest names what is wrong (Vault's messages)."""
    if device_type == "file":
        path = options.get("file_path") or options.get("path") or ""
        if not path:
            raise BadRequest("file_path is required")
        if path.lower() in ("stdout", "discard"):
            path = path.lower()
        return FileDevice(path, parse_mode(options.get("mode", "0600")))
    if device_type == "socket":
        address = options.get("address", "")
        if not address:
            raise BadRequest("address is required")
        socket_type = options.get("socket_type", "tcp")
        if socket_type not in ("tcp", "tcp4", "tcp6", "udp", "udp4", "udp6", "unix"):
            raise BadRequest(f'unsupported socket_type "{socket_type}": tcp, udp or unix')
        if socket_type != "unix":
            _host_port(address)
        try:
            timeout = parse_duration(options.get("write_timeout", "2s"))
        except ValueError as exc:
            raise BadRequest(f"invalid write_timeout: {exc}") from None
        return SocketDevice(address, socket_type.rstrip("46"), float(timeout))
    raise BadRequest(f'unknown backend type: "{device_type}"')
