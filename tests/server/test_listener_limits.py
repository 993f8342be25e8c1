"""The listener's timeouts and connection cap, with real sockets against a real server: a
stalled head or body is dropped, a flood of stalled connections cannot take more than
`max_connections` descriptors from a worker, and the server answers at once when it stops."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.server import (
    ServerProcess,
    client_env,
    free_port,
    read_until_closed,
    running_server,
    worker_pids,
    write_server_config,
)

ROOT_LINE = re.compile(r"^Root token: (\S+)$", re.MULTILINE)


@pytest.fixture(params=["granian", "hypercorn"])
def short_timeouts(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[int, str]]:
    port = free_port()
    config = write_server_config(
        tmp_path,
        port=port,
        http=str(request.param),
        server="http_read_header_timeout = 1\nhttp_read_timeout = 2",
    )
    env = client_env(tmp_path)
    with running_server(["--config", str(config)], env, port=port, log_dir=tmp_path) as (
        url,
        proc,
    ):
        (root,) = ROOT_LINE.findall(proc.stderr())
        yield port, root
        assert httpx.get(f"{url}/v1/sys/health", timeout=20).status_code == 200
        assert "Traceback" not in proc.stderr(), proc.describe()


def test_stalled_head_is_dropped(short_timeouts: tuple[int, str]) -> None:
    port, _ = short_timeouts
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n")  # no blank line, ever
        answer, closed = read_until_closed(sock, 30)
    assert closed, "a connection that never finished its head was kept open"
    assert b"200" not in answer


def test_silent_connection_is_dropped(short_timeouts: tuple[int, str]) -> None:
    port, _ = short_timeouts
    with socket.create_connection(("127.0.0.1", port)) as sock:
        _, closed = read_until_closed(sock, 30)
    assert closed


def test_stalled_body_is_answered_408_and_dropped(short_timeouts: tuple[int, str]) -> None:
    port, root = short_timeouts
    head = (
        "POST /v1/auth/token/create HTTP/1.1\r\nHost: x\r\n"
        f"X-Vault-Token: {root}\r\nContent-Length: 1000\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(head.encode() + b"{")  # 1 byte of 1000, then nothing
        answer, closed = read_until_closed(sock, 30)
    assert closed, "a connection whose body stalled was kept open"
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b"request body not received in time" in answer


def test_a_flood_of_stalled_connections_is_capped_and_released(tmp_path: Path) -> None:
    """granian: 50 connections that never finish their head against a worker capped at 20.
    The worker holds at most 20 (the rest wait in the kernel's queue, not refused), a normal
    request waits its turn instead of failing, and it is answered once the flood goes away."""
    port = free_port()
    cap = 20
    config = write_server_config(
        tmp_path,
        port=port,
        server=f"max_connections = {cap}\nhttp_read_header_timeout = 120",
    )
    env = client_env(tmp_path)
    with running_server(["--config", str(config)], env, port=port, log_dir=tmp_path) as (
        url,
        proc,
    ):
        (worker,) = worker_pids(proc)
        soft, hard = open_files_limit(worker)
        assert soft == hard, "the soft open-files limit was not raised to the hard one"
        flood = []
        for _ in range(50):
            sock = socket.create_connection(("127.0.0.1", port), timeout=30)
            sock.sendall(b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n")
            flood.append(sock)
        try:
            wait_until(lambda: accepted_connections(worker, port) >= cap, proc)
            waiting: list[int] = []
            client = threading.Thread(target=health_status, args=(url, waiting))
            client.start()
            client.join(3)  # it waits in the accept queue: not refused, not answered
            assert client.is_alive(), f"a request past the cap was not queued: {waiting}"
            assert accepted_connections(worker, port) == cap
        finally:
            for sock in flood:
                sock.close()
        client.join(60)
        assert waiting == [200], "the server did not answer once the flood stopped"
        assert httpx.get(f"{url}/v1/sys/health", timeout=20).status_code == 200
        assert "Traceback" not in proc.stderr(), proc.describe()


def health_status(url: str, out: list[int]) -> None:
    try:
        out.append(httpx.get(f"{url}/v1/sys/health", timeout=60).status_code)
    except httpx.HTTPError as exc:
        out.append(-1)
        raise AssertionError(repr(exc)) from exc


def open_files_limit(pid: int) -> tuple[int, int]:
    text = Path(f"/proc/{pid}/limits").read_text()
    match = re.search(r"^Max open files\s+(\d+)\s+(\d+)", text, re.MULTILINE)
    assert match, text
    return int(match.group(1)), int(match.group(2))


def accepted_connections(pid: int, port: int) -> int:
    """Open TCP connections that process `pid` accepted on `port` (its descriptors matched
    against the kernel's socket table)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = str(fd.readlink())
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].rsplit(":", 1)[1], 16)
        established = fields[3] == "01"
        if local_port == port and established and fields[9] in inodes:
            count += 1
    return count


def wait_until(condition: Callable[[], bool], proc: ServerProcess, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in time:\n{proc.describe()}")
        time.sleep(0.1)
