"""The HTTP floor on this machine: what granian itself serves with no wardgate behind it.

    python -m bench.floor                 # ~45 s: three apps, 2 workers each, wrk -t2 -c32 10 s

Each app answers `GET /v1/sys/health` with wardgate's health body: a bare ASGI callable, the
same through granian's RSGI interface, and a one-route Starlette app (wardgate's framework).
Compare with `sys/health` in bench/README.md: the gap between these figures and wardgate's is
wardgate's own per-request work, not the HTTP server's.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.procs import Service, free_port, wait_for_port
from bench.tools import ensure_wrk
from bench.wrk import fixed_script, run_wrk

BODY = json.dumps({"initialized": True, "sealed": False, "standby": False}).encode()
_HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": BODY})


async def rsgi(scope: Any, proto: Any) -> None:
    proto.response_bytes(200, [("content-type", "application/json")], BODY)


def _starlette() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def health(request: Request) -> Response:
        return Response(BODY, media_type="application/json")

    return Starlette(routes=[Route("/v1/sys/health", health)])


starlette = _starlette()

APPS = (
    ("asgi", "bench.floor:asgi"),
    ("rsgi", "bench.floor:rsgi"),
    ("asgi", "bench.floor:starlette"),
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--connections", type=int, default=32)
    opts = parser.parse_args(argv)
    wrk = ensure_wrk()
    granian = str(Path(sys.executable).with_name("granian"))
    with tempfile.TemporaryDirectory(prefix="wardgate-floor-") as tmp:
        workdir = Path(tmp)
        for interface, target in APPS:
            port = free_port()
            argv_ = [granian, "--interface", interface, "--workers", str(opts.workers)]
            argv_ += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "error", target]
            service = Service(target, argv_, workdir / "granian.log", cwd=Path.cwd())
            try:
                wait_for_port(port, 15, service.proc)
                url = f"http://127.0.0.1:{port}/v1/sys/health"
                script = fixed_script("GET", {})
                lua = workdir / "floor.lua"
                run_wrk(wrk, url, script, lua, threads=2, connections=opts.connections, duration=2)
                result = run_wrk(
                    wrk,
                    url,
                    script,
                    lua,
                    threads=2,
                    connections=opts.connections,
                    duration=opts.duration,
                )
                print(
                    f"{target} ({interface}): {result.rps:,.0f} req/s, "
                    f"p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms"
                )
            finally:
                service.stop()


if __name__ == "__main__":
    main()
