"""Running a coroutine to completion the way the server does: on uvloop when it is installed
(what the server's workers use), else asyncio. Plugins' commands (e.g. `wardgate sts-emulator`)
use it too, so they import it from the framework rather than from the server."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def has_uvloop() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def run_event_loop(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` to completion on a new event loop and return its result."""
    if has_uvloop():
        import uvloop

        return uvloop.run(coro)
    return asyncio.run(coro)
