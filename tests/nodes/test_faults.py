"""Faults against real nodes and the real PostgreSQL: the database unreachable, connections
killed mid-flight, a node killed while it writes, serialization failures and deadlocks, and a
database that cannot be opened at start."""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.nodes.cluster import UNAVAILABLE, Node, node_config, nodes
from tests.support import pg
from tests.support.server import client_env, free_port, wardgate_command
from tests.support.tcp_proxy import TcpProxy


@pytest.fixture
def database() -> Iterator[str]:
    with pg.throwaway_database("wardgate_faults") as dsn:
        yield dsn


def via(dsn: str, port: int) -> str:
    """`dsn` pointed at 127.0.0.1:`port` (a proxy in front of the real server)."""
    parts = urlsplit(dsn)
    user = f"{parts.username}@" if parts.username else ""
    return parts._replace(netloc=f"{user}127.0.0.1:{port}").geturl()


def upstream() -> tuple[str, int]:
    parts = urlsplit(pg.admin_dsn())
    return parts.hostname or "127.0.0.1", parts.port or 5432


def create(node: Node, root: str, **body: object) -> httpx.Response:
    return node.call("POST", "auth/token/create", root, json=body)


def lookup_self(node: Node, token: str) -> int:
    return node.call("GET", "auth/token/lookup-self", token).status_code


def no_tracebacks(*cluster: Node) -> None:
    for node in cluster:
        assert "Traceback" not in node.process.stderr(), node.process.describe()


def test_a_restarted_node_keeps_everything_and_prints_no_root_token(
    database: str, tmp_path: Path
) -> None:
    with nodes(tmp_path / "first", [database]) as (a,):
        (root,) = a.root_tokens()
        token = create(a, root, policies=["default"]).json()["auth"]["client_token"]
    with nodes(tmp_path / "second", [database]) as (a,):
        assert a.root_tokens() == []
        assert lookup_self(a, token) == 200 and lookup_self(a, root) == 200


def test_unreachable_database_is_503_then_recovers_without_restart(
    database: str, tmp_path: Path
) -> None:
    with TcpProxy(upstream()) as proxy, nodes(tmp_path, [via(database, proxy.port)]) as (a,):
        (root,) = a.root_tokens()
        token = create(a, root, policies=["default"]).json()["auth"]["client_token"]
        proxy.stop()
        answers = [
            a.call("GET", "auth/token/lookup-self", token),
            a.call("POST", "auth/token/create", root, json={}),
            a.call("PUT", "sys/policies/acl/x", root, json={"policy": 'path "x" {}'}),
            a.call("GET", "auth/token/lookup-self", token),
        ]
        assert [(r.status_code, r.json()) for r in answers] == [(503, UNAVAILABLE)] * 4
        assert a.call("GET", "sys/health").status_code == 503
        time.sleep(1.5)  # a sweep round or two fails meanwhile: still one line
        proxy.start()
        deadline = time.monotonic() + 30
        while a.call("GET", "auth/token/lookup-self", token).status_code != 200:
            assert time.monotonic() < deadline, a.process.describe()
            time.sleep(0.2)
        assert a.call("GET", "sys/health").status_code == 200
        # Nothing of the refused writes landed.
        assert a.call("GET", "sys/policies/acl/x", root).status_code == 404
        log = a.process.stderr()
        assert log.count("storage unavailable: PostgreSQL") == 1, log
        assert log.count("storage available again") == 1, log
        no_tracebacks(a)


def test_connections_killed_mid_flight_are_503_never_500_and_the_pool_reconnects(
    database: str, tmp_path: Path
) -> None:
    statuses: list[int] = []
    acknowledged: list[str] = []
    stop = threading.Event()

    def work(node: Node, root: str) -> None:
        with httpx.Client(timeout=20) as client:
            while not stop.is_set():
                r = client.post(
                    f"{node.url}/v1/auth/token/create", headers={"X-Vault-Token": root}, json={}
                )
                statuses.append(r.status_code)
                if r.status_code == 200:
                    acknowledged.append(r.json()["auth"]["accessor"])

    async def terminate_backends() -> int:
        async with pg.connected(pg.admin_dsn()) as conn:
            killed = await conn.fetch(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = $1 AND application_name = 'wardgate'",
                urlsplit(database).path.lstrip("/"),
            )
            return len(killed)

    with nodes(tmp_path, [database]) as (a,):
        (root,) = a.root_tokens()
        workers = [threading.Thread(target=work, args=(a, root)) for _ in range(3)]
        for worker in workers:
            worker.start()
        killed = 0
        for _ in range(4):
            time.sleep(0.5)
            killed += asyncio.run(terminate_backends())
        stop.set()
        for worker in workers:
            worker.join(30)
        assert killed >= 2  # the load kept connections open to kill
        assert set(statuses) <= {200, 503}, statuses
        assert statuses.count(200) > 0
        # The pool has reconnected by itself.
        assert create(a, root).status_code == 200
        # Every acknowledged token is whole: its accessor index leads to it.
        for accessor in acknowledged:
            found = a.call("POST", "auth/token/lookup-accessor", root, json={"accessor": accessor})
            assert found.status_code == 200, found.text
        no_tracebacks(a)


def test_kill_9_of_a_writing_node_loses_no_acknowledged_write(
    database: str, tmp_path: Path
) -> None:
    acknowledged: list[str] = []
    lock = threading.Lock()

    def create_until_gone(node: Node, root: str) -> None:
        with httpx.Client(timeout=10) as client:
            while True:
                try:
                    r = client.post(
                        f"{node.url}/v1/auth/token/create",
                        headers={"X-Vault-Token": root},
                        json={"ttl": "1h"},
                    )
                except httpx.HTTPError:
                    return  # the node is gone
                if r.status_code == 200:
                    with lock:  # recorded only once the node acknowledged it
                        acknowledged.append(r.json()["auth"]["client_token"])

    with nodes(tmp_path, [database, database]) as (a, b):
        (root,) = a.root_tokens() + b.root_tokens()
        writers = [threading.Thread(target=create_until_gone, args=(a, root)) for _ in range(4)]
        for writer in writers:
            writer.start()
        deadline = time.monotonic() + 20
        while len(acknowledged) < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
        a.process.kill()
        for writer in writers:
            writer.join(30)
        assert len(acknowledged) >= 10
        lost = [
            t for t in acknowledged if b.call("GET", "auth/token/lookup-self", t).status_code != 200
        ]
        assert lost == [], f"{len(lost)} of {len(acknowledged)} acknowledged tokens were lost"


FLAKY_TRIGGER = """
CREATE SEQUENCE wardgate_test_failures;
CREATE FUNCTION wardgate_test_fail() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE k text := convert_from(NEW.key, 'UTF8');
BEGIN
  IF k = 'sys/policy/acl/flaky' THEN
    CASE nextval('wardgate_test_failures')
      WHEN 1 THEN RAISE EXCEPTION 'injected' USING ERRCODE = '40001';
      WHEN 2 THEN RAISE EXCEPTION 'injected' USING ERRCODE = '40P01';
      ELSE NULL;
    END CASE;
  ELSIF k = 'sys/policy/acl/doomed' THEN
    RAISE EXCEPTION 'injected' USING ERRCODE = '40001';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER wardgate_test_fail BEFORE INSERT OR UPDATE ON wardgate_kv
  FOR EACH ROW EXECUTE FUNCTION wardgate_test_fail();
"""


def test_serialization_failures_and_deadlocks_are_retried_bounded(
    database: str, tmp_path: Path
) -> None:
    rule = {"policy": 'path "x" { capabilities = ["read"] }'}
    with nodes(tmp_path, [database]) as (a,):
        (root,) = a.root_tokens()

        async def install() -> None:
            async with pg.connected(database) as conn:
                await conn.execute(FLAKY_TRIGGER)

        asyncio.run(install())
        # A 40001 then a 40P01, each rolled back by PostgreSQL and re-run: the client sees
        # one success.
        assert a.call("PUT", "sys/policies/acl/flaky", root, json=rule).status_code == 204
        assert a.call("GET", "sys/policies/acl/flaky", root).json()["data"]["version"] == 1
        # Failing every time: given up after a bounded number of attempts, 503, nothing kept.
        doomed = a.call("PUT", "sys/policies/acl/doomed", root, json=rule)
        assert (doomed.status_code, doomed.json()) == (503, UNAVAILABLE)
        assert a.call("GET", "sys/policies/acl/doomed", root).status_code == 404
        no_tracebacks(a)


def start_and_wait(
    tmp_path: Path, dsn: str, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """`wardgate server` on `dsn`, expected to give up by itself."""
    config = node_config(tmp_path, free_port(), dsn)
    env = client_env(tmp_path, WARDGATE_NODE_DSN=dsn)
    return subprocess.run(
        [*wardgate_command(), "server", "--config", str(config)],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("nothing listens", "127.0.0.1:{port}"),
        ("missing database", 'database "wardgate_no_such_db" does not exist'),
        ("unknown user", 'user "wardgate_no_such_user"'),
    ],
)
def test_a_database_that_cannot_be_opened_stops_the_start_in_one_line(
    tmp_path: Path, case: str, expected: str, pg_session_dsn: str
) -> None:
    port = free_port()
    admin = urlsplit(pg.admin_dsn())
    dsn = {
        "nothing listens": f"postgresql://postgres@127.0.0.1:{port}/wardgate",
        "missing database": pg.dsn_for("wardgate_no_such_db"),
        "unknown user": admin._replace(
            netloc=f"wardgate_no_such_user@{admin.hostname}:{admin.port or 5432}"
        ).geturl(),
    }[case]
    result = start_and_wait(tmp_path, dsn)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("wardgate: cannot start:"), result.stderr
    assert expected.format(port=port) in lines[0]
    assert "Traceback" not in result.stderr
