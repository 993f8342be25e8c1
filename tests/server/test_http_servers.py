"""What holds under both HTTP servers (granian, the default, and Hypercorn): verbs, limits,
streaming, framing, TLS, disconnects and a graceful stop, each against a real `wardgate server`
process over real sockets."""

from __future__ import annotations

import re
import select
import signal
import socket
import ssl
import subprocess
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
    wait_for_workers,
    write_server_config,
)

ROOT_LINE = re.compile(r"^Root token: (\S+)$", re.MULTILINE)
SERVERS = ["granian", "hypercorn"]
# The stop bound the issue sets: SIGTERM or Ctrl-C stops every worker within 10 s.
STOP_BOUND = 10.0


@pytest.fixture(params=SERVERS)
def http(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def start_server(
    tmp_path: Path, http: str, *, workers: int = 1, server: str = ""
) -> tuple[int, list[str]]:
    port = free_port()
    config = write_server_config(tmp_path, port=port, http=http, workers=workers, server=server)
    return port, ["--config", str(config)]


@pytest.fixture
def served(tmp_path: Path, http: str) -> Iterator[tuple[str, ServerProcess, str]]:
    port, args = start_server(tmp_path, http, server="max_request_size = 4096")
    with running_server(args, client_env(tmp_path), port=port, log_dir=tmp_path) as (url, proc):
        (root,) = ROOT_LINE.findall(proc.stderr())
        yield url, proc, root


def raw(url: str, request: bytes, timeout: float = 30.0) -> tuple[bytes, bool]:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(request)
        return read_until_closed(sock, timeout)


def test_verbs_list_and_head(served: tuple[str, ServerProcess, str], http: str) -> None:
    url, proc, root = served
    with httpx.Client(timeout=20) as client:
        listed = client.request(
            "LIST", f"{url}/v1/auth/token/accessors", headers={"X-Vault-Token": root}
        )
        assert listed.status_code == 200, listed.text
        assert len(listed.json()["data"]["keys"]) == 1  # the root token's accessor
        head = client.head(f"{url}/v1/sys/health")
        assert head.status_code == 200
        assert head.content == b""
        assert client.get(f"{url}/v1/sys/health").json()["initialized"] is True
    assert "Traceback" not in proc.stderr()


def test_body_over_the_limit_is_413_before_it_is_read(
    served: tuple[str, ServerProcess, str],
) -> None:
    url, proc, root = served
    # Declared too large: refused on the header, the body never sent.
    head = (
        "POST /v1/auth/token/create HTTP/1.1\r\nHost: x\r\n"
        f"X-Vault-Token: {root}\r\nContent-Type: application/json\r\n"
        "Content-Length: 1000000000\r\n\r\n"
    )
    answer, _ = raw(url, head.encode())
    assert answer.startswith(b"HTTP/1.1 413"), answer

    # Streamed in chunks with no length: refused once past the limit, while the client is
    # still sending (a 413 arrives although the body never ends).
    chunked = (
        "POST /v1/auth/token/create HTTP/1.1\r\nHost: x\r\n"
        f"X-Vault-Token: {root}\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(chunked)
        chunk = b"x" * 1024
        for _ in range(8):
            # The server may answer and close before the last chunks: stop sending then (a
            # write to the closed connection is a broken pipe, not a failure of the server).
            if select.select([sock], [], [], 0.05)[0]:
                break
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except (BrokenPipeError, ConnectionResetError):
                break
        answer, _ = read_until_closed(sock, 30)
    assert answer.startswith(b"HTTP/1.1 413"), answer
    # The server still answers.
    assert httpx.get(f"{url}/v1/sys/health", timeout=20).status_code == 200
    assert "Traceback" not in proc.stderr()


def test_streamed_body_within_the_limit_is_served(
    served: tuple[str, ServerProcess, str],
) -> None:
    url, _, root = served

    def body() -> Iterator[bytes]:
        yield b'{"ttl": "1h", '
        yield b'"meta": {"k": "v"}}'

    response = httpx.post(
        f"{url}/v1/auth/token/create",
        content=body(),
        headers={"X-Vault-Token": root, "Content-Type": "application/json"},
        timeout=20,
    )
    assert response.status_code == 200, response.text
    assert response.json()["auth"]["metadata"] == {"k": "v"}


def test_content_length_with_transfer_encoding_closes_the_connection(
    served: tuple[str, ServerProcess, str], http: str
) -> None:
    url, proc, _ = served
    # A second request hidden behind the first: if the server framed the first by
    # Content-Length, "GET /v1/sys/health" would be answered as a request of its own.
    smuggle = (
        b"POST /v1/sys/health HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    answer, closed = raw(url, smuggle)
    assert closed, "the connection was left open"
    assert answer.count(b"HTTP/1.1 ") == 1, answer
    if http == "hypercorn":
        # The app sees both headers and refuses: 400, naming the problem.
        assert answer.startswith(b"HTTP/1.1 400"), answer
        assert b"Content-Length and Transfer-Encoding" in answer
    else:
        # hyper frames the request by Transfer-Encoding alone (RFC 9112 6.1 allows it),
        # hides Content-Length from the app, answers once and closes.
        assert b"connection: close" in answer.lower(), answer
    assert "Traceback" not in proc.stderr()


def test_client_disconnect_mid_body_is_one_info_line(
    served: tuple[str, ServerProcess, str],
) -> None:
    url, proc, root = served
    head = (
        "POST /v1/auth/token/create HTTP/1.1\r\nHost: x\r\n"
        f"X-Vault-Token: {root}\r\nContent-Length: 1000\r\n\r\n"
    )
    for _ in range(3):
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(head.encode() + b'{"ttl":')
    # The server goes on serving, and says what happened in one line per request.
    assert httpx.get(f"{url}/v1/sys/health", timeout=20).status_code == 200
    wait_for(lambda: proc.stderr().count("request body incomplete: the client disconnected") >= 3)
    log = proc.stderr()
    assert "Traceback" not in log, log
    for line in log.splitlines():
        if "disconnected" in line:
            assert " INFO " in line, line


def wait_for(condition: Callable[[], object], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)


def test_tls(tmp_path: Path, http: str) -> None:
    cert, key = make_certificate(tmp_path)
    port = free_port()
    config = write_server_config(
        tmp_path,
        port=port,
        http=http,
        server=f'tls_cert_file = "{cert}"\ntls_key_file = "{key}"',
    )
    env = client_env(tmp_path)
    server = ServerProcess(["--config", str(config)], env, tmp_path)
    try:
        context = ssl.create_default_context(cafile=str(cert))
        wait_for(lambda: _tls_health(port, context) or server.returncode is not None, 30)
        assert server.returncode is None, server.describe()
        response = httpx.get(f"https://localhost:{port}/v1/sys/health", verify=context)
        assert response.status_code == 200
        # Plain HTTP and junk on the TLS port are not served, and leave no traceback.
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/v1/sys/health", timeout=5).raise_for_status()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"\x16\x03\x01\x00\x05junk!")
            read_until_closed(sock, 10)
        assert httpx.get(f"https://localhost:{port}/v1/sys/health", verify=context).is_success
    finally:
        assert server.stop() == 0, server.describe()
    assert "Traceback" not in server.stderr(), server.describe()


def _tls_health(port: int, context: ssl.SSLContext) -> bool:
    try:
        url = f"https://localhost:{port}/v1/sys/health"
        return httpx.get(url, verify=context, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost/127.0.0.1, made with the openssl CLI."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_graceful_stop_of_two_workers(tmp_path: Path, http: str, sig: signal.Signals) -> None:
    """A stop signal to the process group (what systemd and Ctrl-C in a terminal send) stops
    both workers with exit 0 and no traceback, after answering a request that was in flight."""
    port, args = start_server(tmp_path, http, workers=2)
    env = client_env(tmp_path)
    with running_server(args, env, port=port, log_dir=tmp_path) as (_, server):
        (root,) = ROOT_LINE.findall(server.stderr())
        workers = wait_for_workers(server, 2)
        assert len(workers) == 2, server.describe()
        # A request in flight: its head and half its body are sent before the signal.
        body = b'{"ttl": "1h"}'
        head = (
            "POST /v1/auth/token/create HTTP/1.1\r\nHost: x\r\n"
            f"X-Vault-Token: {root}\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        sock.sendall(head.encode() + body[:5])
        server.signal_group(sig)
        answer: list[bytes] = []
        finisher = threading.Thread(target=_finish, args=(sock, body[5:], answer))
        finisher.start()
        try:
            server.popen.wait(STOP_BOUND)
        finally:
            finisher.join(30)
            sock.close()
        assert server.returncode == 0, server.describe()
        assert answer and answer[0].startswith(b"HTTP/1.1 200"), (answer, server.describe())
        for pid in workers:
            assert not Path(f"/proc/{pid}").exists() or _is_zombie(pid), server.describe()
        assert "Traceback" not in server.stderr(), server.describe()


def _finish(sock: socket.socket, rest: bytes, answer: list[bytes]) -> None:
    time.sleep(0.5)  # the signal is delivered while the request waits for its body
    try:
        sock.sendall(rest)
        data, _ = read_until_closed(sock, 20)
    except OSError as exc:
        data = repr(exc).encode()
    answer.append(data)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


def test_access_log_names_the_forwarded_client_and_no_secret(tmp_path: Path, http: str) -> None:
    """`log.requests`: one line per request with the client address each server hands the
    app (rewritten from X-Forwarded-For only for a trusted peer), never the token."""
    port = free_port()
    config = write_server_config(
        tmp_path,
        port=port,
        http=http,
        server='trusted_proxies = ["127.0.0.1/32"]',
        extra="[log]\nrequests = true\n",
    )
    env = client_env(tmp_path)
    with running_server(["--config", str(config)], env, port=port, log_dir=tmp_path) as (
        url,
        server,
    ):
        (root,) = ROOT_LINE.findall(server.stderr())
        headers = {"X-Vault-Token": root, "X-Forwarded-For": "10.1.2.3, 198.51.100.7"}
        me = httpx.get(f"{url}/v1/auth/token/lookup-self", headers=headers, timeout=20)
        assert me.status_code == 200
        direct = httpx.get(f"{url}/v1/sys/health", timeout=20)
        assert direct.status_code == 200
        wait_for(lambda: "GET /v1/sys/health -> 200" in server.stderr())
        log = server.stderr()
    lines = [line for line in log.splitlines() if "GET /v1/" in line]
    assert any(
        "GET /v1/auth/token/lookup-self -> 200" in line and line.endswith("from 198.51.100.7")
        for line in lines
    ), lines
    assert any(
        "GET /v1/sys/health -> 200" in line and line.endswith("from 127.0.0.1") for line in lines
    ), lines
    assert root not in log.replace(f"Root token: {root}", "")


MALFORMED = [
    b"GARBAGE\r\n\r\n",
    b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    b"POST /v1/auth/token/create HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
    b"POST /v1/auth/token/create HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"zz\r\nabc\r\n",
    b"POST /v1/auth/token/create HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nabc",
    b"GET /v1/sys/h\x00ealth HTTP/1.1\r\nHost: x\r\n\r\n",
]


def test_malformed_requests_are_refused_without_a_traceback(
    served: tuple[str, ServerProcess, str],
) -> None:
    url, proc, _ = served
    for request in MALFORMED:
        answer, _ = raw(url, request, timeout=20)
        status = answer[9:12]
        # A 4xx, or 501 for a transfer coding the server does not implement (RFC 9112 6.1).
        assert status.startswith(b"4") or status == b"501", (request, answer[:80])
    assert httpx.get(f"{url}/v1/sys/health", timeout=20).status_code == 200
    assert "Traceback" not in proc.stderr(), proc.stderr()


def test_a_stalled_request_cannot_hold_up_the_stop(tmp_path: Path, http: str) -> None:
    """A request whose body never comes is cut off after the stop's grace period: the stop
    stays bounded, exits 0 and logs no traceback."""
    port, args = start_server(tmp_path, http, workers=2)
    env = client_env(tmp_path)
    with running_server(args, env, port=port, log_dir=tmp_path) as (_, server):
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(
                b"POST /v1/auth/token/create HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"
            )
            time.sleep(0.5)  # the worker is now reading the body
            server.signal_group(signal.SIGTERM)
            server.popen.wait(STOP_BOUND)
        assert server.returncode == 0, server.describe()
        assert "Traceback" not in server.stderr(), server.describe()
