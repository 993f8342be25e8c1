"""Decoding large request bodies in a helper process, so the event loop keeps serving.

Measured: msgspec holds the GIL while it decodes, so a thread does not help (a 30 MB string
stalled the event loop 210 ms inline and 320 ms from a thread). A helper process does: the
loop only copies the body into a pipe and reads the decoded data back (msgpack: a memcpy for
the large strings such a body carries, and the element count is bounded before anything is
sent). One helper per server process, started on first use with `python -m` (server workers
may be daemonic processes, which `multiprocessing` refuses to give children), fed one body at
a time; it exits when its parent closes the pipe. If it dies, the next large body starts a new
one.

Frames: parent -> helper `<len(content type)><len(body)>` (two little-endian u32), the content
type, the body; helper -> parent `<len>` (u32) and msgpack of `[ok, data or error message]`.
"""

from __future__ import annotations

import asyncio
import struct
import sys
from typing import Any

import msgspec

HEADER = struct.Struct("<II")
LENGTH = struct.Struct("<I")


class DecodeHelper:
    def __init__(self) -> None:
        self._process: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()

    async def parse(self, body: bytes, content_type: str) -> tuple[bool, Any]:
        """(True, data) or (False, the client-facing error message)."""
        async with self._lock:
            process = await self._running()
            assert process.stdin is not None and process.stdout is not None
            kind = content_type.encode("latin-1", "replace")
            try:
                process.stdin.write(HEADER.pack(len(kind), len(body)) + kind)
                process.stdin.write(body)
                await process.stdin.drain()
                (size,) = LENGTH.unpack(await process.stdout.readexactly(LENGTH.size))
                frame = await process.stdout.readexactly(size)
            except (OSError, asyncio.IncompleteReadError):
                self._process = None
                process.kill()
                raise
        ok, value = msgspec.msgpack.decode(frame)
        return bool(ok), value

    async def _running(self) -> asyncio.subprocess.Process:
        if self._process is None or self._process.returncode is not None:
            self._process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "core.framework.decode",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
        return self._process
