"""Cost of one request, measured in ways a busy machine does not distort (bench/README.md,
"What limits wardgate"): wardgate's app called in this process (ASGI, no HTTP server) on SQLite
(`synchronous = full`) with the STS emulator as its own process, as the benchmark sets it up.

    python -m bench.profile_requests --workload login --n 1000           # CPU, storage ops
    python -m bench.profile_requests --workload role-write --profile     # + cProfile
    valgrind --tool=callgrind --instr-atstart=no \\
        python -m bench.profile_requests --workload login --n 200 --callgrind
        # instructions of the measured requests only (all threads): stable to ~1% under load

`--server` instead runs a real `wardgate server` (granian or Hypercorn, N workers) under wrk and
reports the CPU time of its processes per request (/proc utime + stime), and the emulator's;
`--storage postgresql` serves from a fresh database on the machine's PostgreSQL (bench/pg_side.py,
dropped at the end) and also reports PostgreSQL's CPU per request (the database's backends and
the server's background processes: every round trip costs CPU on both sides);
`--py-spy FILE` also samples one worker with py-spy during the last run (collapsed stacks in
FILE) and prints where its time went:

    python -m bench.profile_requests --server --workload lookup-self --connections 32 \
        --py-spy /tmp/lookup.txt
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg

from bench import feeds, pg_side, wardgate_side
from bench.procs import descendants
from bench.wrk import feed_script, fixed_script, rotate_script, run_wrk

ROOT = "s.profile-requests-root-token"
# lookup-self, health, approle-login: --server only
WORKLOADS = ("login", "role-write", "lookup-self", "health", "approle-login")
SERVER_ONLY = ("lookup-self", "health", "approle-login")
Req = tuple[str, str, dict[str, str], bytes]


def options(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workload", choices=WORKLOADS, default="login")
    parser.add_argument("--n", type=int, default=1000, help="measured requests (in process)")
    parser.add_argument("--profile", action="store_true", help="cProfile the measured requests")
    parser.add_argument("--callgrind", action="store_true", help="toggle callgrind around them")
    parser.add_argument("--server", action="store_true", help="a real server under wrk instead")
    parser.add_argument("--http", default="granian", help="--server: granian or hypercorn")
    parser.add_argument("--workers", type=int, default=2, help="--server: server.workers")
    parser.add_argument("--seconds", type=float, default=6, help="--server: per wrk run")
    parser.add_argument("--connections", type=int, default=8, help="--server: wrk -c")
    parser.add_argument("--py-spy", type=Path, help="--server: sample a worker into this file")
    parser.add_argument("--audit", action="store_true", help="--server: one file audit device")
    parser.add_argument(
        "--storage", choices=("sqlite", "postgresql"), default="sqlite", help="--server: storage"
    )
    parser.add_argument("--pg-dsn", help="--storage postgresql: admin DSN (bench/pg_side.py)")
    opts = parser.parse_args(argv)
    if opts.workload in SERVER_ONLY and not opts.server:
        parser.error(f"--workload {opts.workload} needs --server")
    if opts.storage != "sqlite" and not opts.server:
        parser.error("--storage postgresql needs --server")
    return opts


def requests(workload: str, n: int, workdir: Path) -> Callable[[int], Req]:
    json_type = {"Content-Type": "application/json"}
    if workload == "login":
        feed = workdir / "login-feed.txt"
        feeds.write_login_feed(feed, n, wardgate_side.ROLE)
        bodies = [line.encode() for line in feed.read_text().splitlines()]
        return lambda i: ("POST", "/v1/" + wardgate_side.LOGIN_PATH, json_type, bodies[i])
    body = json.dumps(wardgate_side.ROLE_BODY).encode()
    headers = {**json_type, "X-Vault-Token": ROOT}
    return lambda i: ("POST", f"/v1/auth/alicloud/role/w{i % 64}", headers, body)


async def call(app: Any, req: Req) -> tuple[int, bytes]:
    method, path, headers, body = req
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    raw.append((b"content-length", str(len(body)).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": raw,
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8200),
    }
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    answer: dict[str, Any] = {"body": b""}

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop()
        await asyncio.sleep(3600)  # a client that stays
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        else:
            answer["body"] += message.get("body", b"")

    await app(scope, receive, send)
    return answer["status"], answer["body"]


def count_storage_ops(storage: Any, counts: collections.Counter[str]) -> None:
    for op in ("get", "get_many", "put", "delete", "list", "write", "update"):
        inner = getattr(storage, op, None)
        if inner is None:  # an older storage (profiling an older commit)
            continue

        def counted(*args: Any, _op: str = op, _inner: Any = inner, **kwargs: Any) -> Any:
            first = args[0] if args else ""
            keys = first if _op == "get_many" else [first]
            for key in keys:
                name = key if isinstance(key, str) else type(key).__name__
                counts[f"{_op} {'/'.join(name.split('/')[:2])}"] += 1
            return _inner(*args, **kwargs)

        try:
            setattr(storage, op, counted)
        except AttributeError:  # a storage with __slots__ (older commits): not counted
            return


def callgrind(state: str) -> None:
    subprocess.run(["callgrind_control", "-i", state, str(os.getpid())], capture_output=True)


async def in_process(opts: argparse.Namespace, workdir: Path, sts_url: str) -> None:
    from core.app import build_app
    from core.config import parse_config
    from core.metrics import prepare_dir

    prepare_dir()  # multiprocess metrics, as `wardgate server` runs them
    config_path = workdir / "wardgate.toml"
    wardgate_side.write_config(
        config_path, port=8200, workers=1, db=workdir / "wardgate.db", sts_url=sts_url
    )
    app = build_app(parse_config(config_path.read_text()), root_token=ROOT)
    warm = 30
    make = requests(opts.workload, opts.n + warm, workdir)
    async with app.router.lifespan_context(app):
        root = {"X-Vault-Token": ROOT, "Content-Type": "application/json"}
        role = json.dumps(wardgate_side.ROLE_BODY).encode()
        status, _ = await call(app, ("POST", "/v1/" + wardgate_side.ROLE_PATH, root, role))
        assert status in (200, 204), status
        for i in range(warm):
            await call(app, make(opts.n + i))
        counts: collections.Counter[str] = collections.Counter()
        count_storage_ops(app.state.runtime.storage, counts)
        profile = cProfile.Profile() if opts.profile else None
        if opts.callgrind:
            callgrind("on")
        cpu, wall = time.process_time(), time.perf_counter()
        if profile:
            profile.enable()
        for i in range(opts.n):
            status, body = await call(app, make(i))
            if status not in (200, 204):
                raise SystemExit(f"request {i}: {status} {body[:300]!r}")
        if profile:
            profile.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        if opts.callgrind:
            callgrind("off")
    print(
        f"{opts.workload}: {opts.n} requests in process, CPU {1000 * cpu / opts.n:.3f} ms "
        f"(all threads), wall {1000 * wall / opts.n:.3f} ms per request"
    )
    per = {k: round(v / opts.n, 2) for k, v in sorted(counts.items())}
    print(f"storage operations per request: {per}")
    if profile:
        pstats.Stats(profile).strip_dirs().sort_stats("cumulative").print_stats(40)


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    return total / os.sysconf("SC_CLK_TCK")


def postgres_pids(dsn: str) -> list[int]:
    """The backends of the database at `dsn` and PostgreSQL's background processes."""

    async def ask() -> list[int]:
        conn = await asyncpg.connect(dsn, timeout=10)
        try:
            rows = await conn.fetch(
                "SELECT pid FROM pg_stat_activity WHERE (datname = current_database()"
                " OR backend_type <> 'client backend') AND pid <> pg_backend_pid()"
            )
        finally:
            await conn.close()
        return [int(row[0]) for row in rows]

    return asyncio.run(ask())


def with_server(opts: argparse.Namespace, workdir: Path, sts_url: str, emulator: Any) -> None:
    storage, dsn, admin, database = "", "", "", ""
    if opts.storage == "postgresql":
        admin = pg_side.admin_dsn(opts.pg_dsn)
        database, dsn = pg_side.create_database(admin, "profile")
        storage = pg_side.storage_block(dsn, opts.workers)
    server = wardgate_side.Wardgate(
        workdir, opts.workers, sts_url, http=opts.http, audit=opts.audit, storage=storage
    )
    try:
        server.start()
        objects = None
        if opts.workload not in ("lookup-self", "health"):
            objects = wardgate_side.create_objects(server)
        assert server.service is not None
        pids = server.service.tree_pids()
        emulator_pids = [emulator.pid, *descendants(emulator.pid)]
        if opts.workload == "login":
            feed = workdir / "feed.txt"
            url = f"{server.url}/v1/{wardgate_side.LOGIN_PATH}"

            def script() -> str:
                feeds.write_login_feed(feed, int(3000 * opts.seconds) + 1000, wardgate_side.ROLE)
                headers = {"Content-Type": "application/json"}
                return feed_script(feed, "POST", headers, 2, path="/v1/" + wardgate_side.LOGIN_PATH)

        elif opts.workload == "approle-login":
            assert objects is not None
            url = f"{server.url}/v1/{wardgate_side.APPROLE_LOGIN_PATH}"
            body = json.dumps(objects.approle_login)
            lua = fixed_script("POST", {"Content-Type": "application/json"}, body)

            def script() -> str:
                return lua

        elif opts.workload == "health":
            url = f"{server.url}/v1/sys/health"
            lua = fixed_script("GET", {})

            def script() -> str:
                return lua

        elif opts.workload == "lookup-self":
            url = f"{server.url}/v1/auth/token/lookup-self"
            reader = wardgate_side.create_objects(server).reader_token
            lua = fixed_script("GET", {"X-Vault-Token": reader})

            def script() -> str:
                return lua

        else:
            url = f"{server.url}/v1/auth/alicloud/role/w0-0"
            headers = {"Content-Type": "application/json", "X-Vault-Token": server.root_token}
            body = json.dumps(wardgate_side.ROLE_BODY)
            lua = rotate_script("POST", headers, body, "/v1/auth/alicloud/role/w", 64)

            def script() -> str:
                return lua

        for run in range(3):  # the first warms up
            spy = start_py_spy(opts, pids, workdir) if run == 2 else None
            db_pids = postgres_pids(dsn) if dsn else []
            db_before = cpu_seconds(db_pids)
            before, emu_before = cpu_seconds(pids), cpu_seconds(emulator_pids)
            result = run_wrk(
                "wrk",
                url,
                script(),
                workdir / "wrk.lua",
                threads=2,
                connections=opts.connections,
                duration=opts.seconds,
            )
            used, emu = cpu_seconds(pids) - before, cpu_seconds(emulator_pids) - emu_before
            db_used = cpu_seconds(db_pids) - db_before
            if run:
                n = result.requests
                db = f", PostgreSQL {1000 * db_used / n:.3f} ms" if dsn else ""
                print(
                    f"{opts.workload} {opts.http} workers={opts.workers} {opts.storage}"
                    f"{' audit' if opts.audit else ''}: {n} requests "
                    f"({result.rps:,.0f}/s, {result.errors} errors), server CPU "
                    f"{1000 * used / n:.3f} ms per request{db}, emulator {1000 * emu / n:.3f} ms"
                )
            if spy is not None:
                spy.wait()
                print(summarize_stacks(opts.py_spy))
    finally:
        server.stop()
        if database:
            pg_side.drop_database(admin, database)


def start_py_spy(
    opts: argparse.Namespace, pids: list[int], workdir: Path
) -> subprocess.Popen[bytes] | None:
    """py-spy on the first worker (the server's first child) for the run's duration."""
    if opts.py_spy is None:
        return None
    worker = pids[1] if len(pids) > 1 else pids[0]
    installed = Path(sys.executable).parent / "py-spy"  # pip's, next to this Python
    command = [
        str(installed) if installed.exists() else "py-spy",
        "record",
        "--pid",
        str(worker),
        "--duration",
        str(int(opts.seconds)),
    ]
    command += ["--format", "raw", "--rate", "200", "--nonblocking", "--output", str(opts.py_spy)]
    log = (workdir / "py-spy.log").open("wb")
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)


def summarize_stacks(path: Path, top: int = 25) -> str:
    """Share of samples per function, inclusive (anywhere on the stack) and self (innermost),
    from py-spy's collapsed stacks (`frame;frame;... count`)."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        frames = stack.split(";")
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    lines = [f"py-spy: {total} samples of one worker"]
    for title, counter in (("inclusive", inclusive), ("self", own)):
        lines.append(f"-- {title} --")
        for frame, count in counter.most_common(top):
            lines.append(f"{100 * count / total:5.1f}%  {frame}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    opts = options(argv)
    workdir = Path(tempfile.mkdtemp(prefix="wardgate-profile-"))
    emulator, sts_url = wardgate_side.start_emulator(workdir)
    try:
        if opts.server:
            with_server(opts, workdir, sts_url, emulator)
        else:
            asyncio.run(in_process(opts, workdir, sts_url))
    finally:
        emulator.stop()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
