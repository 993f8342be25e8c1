"""Counting what one request costs the storage: storage operations on any backend, and
PostgreSQL round trips (statements sent by asyncpg, prepares included) on PostgreSQL.

`python -m tests.support.roundtrips [--storage memory|sqlite|postgresql ...]` prints the counts
of the benchmark's workloads (bench/README.md): lookup-self and role read with a non-root
token, role write with the root token, AliCloud login (through a local STS emulator), AppRole
login, sys/health. Each is sent a few times first, so one-time work (building a mount's
plugin, compiling an ACL, preparing statements) is not counted; the request after that is.

The counts are deterministic: they depend on the code path, not on timing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg.connection

from core.config import AuthMountConfig, Config
from core.registry import default_registry
from plugins.alicloud.emulator import build_emulator_app, serve_emulator
from plugins.alicloud.signer import sign_get_caller_identity
from tests.alicloud.conftest import ACCOUNT
from tests.alicloud.conftest import ROLE as ROLE_IDENTITY

# The AliCloud tests' assumed-role identity (session-1 of RAM role dev-role).
IDENTITY = ROLE_IDENTITY
ROLE_ARN = f"acs:ram::{ACCOUNT}:role/dev-role"
READER_POLICY = 'path "auth/alicloud/role/*" { capabilities = ["read", "list"] }'
ROLE_BODY = {"arn": ROLE_ARN, "token_policies": "default", "token_ttl": "1h"}
WORKLOADS = ("lookup-self", "role-read", "role-write", "login", "approle-login", "health")
STORAGE_OPS = ("get", "get_many", "put", "delete", "list", "write", "update", "ping")


@dataclass
class Tally:
    """What was sent while counting: storage operations, and asyncpg's round trips."""

    ops: list[str] = field(default_factory=list)
    statements: list[str] = field(default_factory=list)  # one entry per round trip

    def clear(self) -> None:
        self.ops.clear()
        self.statements.clear()


@contextlib.contextmanager
def count_pg_statements(tally: Tally) -> Iterator[None]:
    """Record every round trip asyncpg makes (in this process) into `tally.statements`:
    an extended-protocol execution (`fetch`, `fetchval`, `execute` with arguments), a
    simple query (`execute` without arguments, possibly several statements in one round
    trip), and a prepare (a statement not in the connection's cache yet)."""
    conn_class = asyncpg.connection.Connection
    execute = conn_class.execute
    do_execute = conn_class._do_execute
    get_statement = conn_class._get_statement

    async def counted_execute(self: Any, query: str, *args: Any, **kw: Any) -> Any:
        if not args:
            tally.statements.append(query)
        return await execute(self, query, *args, **kw)

    async def counted_do_execute(self: Any, query: str, *args: Any, **kw: Any) -> Any:
        tally.statements.append(query)
        return await do_execute(self, query, *args, **kw)

    async def counted_get_statement(self: Any, query: str, *args: Any, **kw: Any) -> Any:
        key = (query, self._protocol.get_record_class(), kw.get("ignore_custom_codec", False))
        if not kw.get("use_cache", True) or self._stmt_cache.get(key) is None:
            tally.statements.append("PREPARE " + query)
        return await get_statement(self, query, *args, **kw)

    conn_class.execute = counted_execute  # type: ignore[method-assign]
    conn_class._do_execute = counted_do_execute  # type: ignore[method-assign]
    conn_class._get_statement = counted_get_statement  # type: ignore[method-assign]
    try:
        yield
    finally:
        conn_class.execute = execute  # type: ignore[method-assign]
        conn_class._do_execute = do_execute  # type: ignore[method-assign]
        conn_class._get_statement = get_statement  # type: ignore[method-assign]


def count_storage_ops(storage: Any, tally: Tally) -> None:
    """Record each storage operation called on `storage` (the runtime's) into `tally.ops`."""
    for name in STORAGE_OPS:
        inner = getattr(storage, name)

        def counted(inner: Callable[..., Awaitable[Any]], name: str) -> Any:
            async def call(*args: Any, **kwargs: Any) -> Any:
                what = args[0] if args and isinstance(args[0], str) else ""
                if args and isinstance(args[0], list | tuple):
                    what = ",".join(getattr(k, "key", str(k)) for k in args[0])
                tally.ops.append(f"{name} {what}".strip())
                return await inner(*args, **kwargs)

            return call

        setattr(storage, name, counted(inner, name))


@contextlib.asynccontextmanager
async def sts_emulator() -> AsyncIterator[str]:
    """An STS emulator on a free loopback port knowing IDENTITY; yields its URL."""
    app = build_emulator_app([IDENTITY])
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        task = asyncio.create_task(serve_emulator("127.0.0.1", 0, [], app=app, sock=sock))
        try:
            yield f"http://127.0.0.1:{sock.getsockname()[1]}"
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def signed_login(clock_now: float) -> dict[str, Any]:
    request = sign_get_caller_identity(
        IDENTITY.access_key_id,
        IDENTITY.access_key_secret,
        region="cn-hangzhou",
        security_token=IDENTITY.security_token,
        timestamp=datetime.fromtimestamp(clock_now, UTC),
    )
    return {"role": "r1", **request.login_data()}


@dataclass
class Workloads:
    """The benchmark's objects on one server, and one request of each workload."""

    srv: Any  # tests.conftest.Server
    reader: str
    approle: dict[str, str]
    writes: int = 0

    @classmethod
    async def create(cls, srv: Any) -> Workloads:
        async def ok(method: str, path: str, body: Any = None) -> Any:
            response = await srv.call(method, path, json=body)
            assert response.status_code in (200, 204), (path, response.text)
            return response.json() if response.status_code == 200 else None

        await ok("PUT", "/v1/sys/policy/bench-reader", {"policy": READER_POLICY})
        await ok("POST", "/v1/auth/alicloud/role/r1", ROLE_BODY)
        created = await ok("POST", "/v1/auth/token/create", {"policies": ["bench-reader"]})
        await ok("POST", "/v1/sys/auth/approle", {"type": "approle"})
        approle_role = {"token_policies": "default", "token_ttl": "1h", "secret_id_num_uses": 0}
        await ok("POST", "/v1/auth/approle/role/r1", approle_role)
        role_id = (await ok("GET", "/v1/auth/approle/role/r1/role-id"))["data"]["role_id"]
        secret = await ok("POST", "/v1/auth/approle/role/r1/secret-id", {})
        approle = {"role_id": role_id, "secret_id": secret["data"]["secret_id"]}
        return cls(srv, created["auth"]["client_token"], approle)

    async def send(self, workload: str) -> int:
        srv = self.srv
        if workload == "lookup-self":
            response = await srv.call("GET", "/v1/auth/token/lookup-self", token=self.reader)
        elif workload == "role-read":
            response = await srv.call("GET", "/v1/auth/alicloud/role/r1", token=self.reader)
        elif workload == "role-write":
            self.writes += 1
            path = f"/v1/auth/alicloud/role/w{self.writes % 3}"
            response = await srv.call("POST", path, json=ROLE_BODY)
        elif workload == "login":
            body = signed_login(srv.clock.now())
            response = await srv.call("POST", "/v1/auth/alicloud/login", token=None, json=body)
        elif workload == "approle-login":
            response = await srv.call(
                "POST", "/v1/auth/approle/login", token=None, json=self.approle
            )
        elif workload == "health":
            response = await srv.call("GET", "/v1/sys/health", token=None)
        else:
            raise ValueError(workload)
        assert response.status_code in (200, 204), (workload, response.text)
        return response.status_code


def config_with_alicloud(config: Config, sts_url: str) -> Config:
    config.auth.append(
        AuthMountConfig(
            path="alicloud",
            type="alicloud",
            max_lease_ttl="24h",
            config={"sts_endpoint": sts_url},
        )
    )
    return config


@contextlib.asynccontextmanager
async def counting_server(
    config: Config, clock: Any = None
) -> AsyncIterator[tuple[Workloads, Tally]]:
    """A server on `config` (plus an alicloud/ mount on a local STS emulator) with the bench
    objects created, and a tally that counts from now on."""
    from tests.conftest import FakeClock, start_server

    async with sts_emulator() as sts_url:
        config = config_with_alicloud(config, sts_url)
        clock = clock or FakeClock(datetime.now(UTC).timestamp())
        registry = default_registry(include_entry_points=False)
        async with start_server(config, registry=registry, clock=clock) as srv:
            tally = Tally()
            count_storage_ops(srv.runtime.storage, tally)
            workloads = await Workloads.create(srv)
            with count_pg_statements(tally):
                yield workloads, tally


async def measure(workloads: Workloads, tally: Tally, workload: str) -> Tally:
    """The tally of one request of `workload`, after three unmeasured ones."""
    for _ in range(3):
        await workloads.send(workload)
    tally.clear()
    await workloads.send(workload)
    return Tally(list(tally.ops), list(tally.statements))


async def table(backend: str, verbose: bool) -> list[tuple[str, Tally]]:
    from tests.conftest import memory_config, postgres_config, sqlite_config
    from tests.support import pg

    rows: list[tuple[str, Tally]] = []
    with contextlib.ExitStack() as stack:
        if backend == "postgresql":
            dsn = stack.enter_context(pg.throwaway_database("wardgate_count"))
            config = postgres_config(dsn)
        elif backend == "sqlite":
            tmp = stack.enter_context(tempfile.TemporaryDirectory())
            config = sqlite_config(Path(tmp) / "wardgate.db")
        else:
            config = memory_config()
        async with counting_server(config) as (workloads, tally):
            for workload in WORKLOADS:
                rows.append((workload, await measure(workloads, tally, workload)))
    if verbose:
        for workload, got in rows:
            print(f"{backend} {workload}: ops {got.ops}")
            for statement in got.statements:
                print(f"    {' '.join(statement.split())[:110]}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--storage", action="append", choices=("memory", "sqlite", "postgresql"))
    parser.add_argument("-v", "--verbose", action="store_true", help="list the statements")
    args = parser.parse_args()
    backends = args.storage or ["sqlite", "postgresql"]
    heads = " | ".join(f"{b} storage ops" for b in backends)
    print(f"| workload | {heads} | PG round trips |")
    results = {b: asyncio.run(table(b, args.verbose)) for b in backends}
    for index, workload in enumerate(WORKLOADS):
        cells = [str(len(results[b][index][1].ops)) for b in backends]
        pg_trips = (
            str(len(results["postgresql"][index][1].statements)) if "postgresql" in results else "-"
        )
        print(f"| {workload} | " + " | ".join(cells) + f" | {pg_trips} |")


if __name__ == "__main__":
    main()
