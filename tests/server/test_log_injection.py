"""Log injection: a value a client or an upstream sent can never forge a log line. A real
`wardgate server`, its text log and then its JSON log, fed each vector: a renew `increment`, a
mount `type`, request paths with ESC/VT/NEL and an encoded newline, and an STS endpoint that
answers with a forged status line."""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support.server import client_env, free_port, running_server

from plugins.alicloud.signer import sign_get_caller_identity

ROOT_LINE = re.compile(r"^Root token: (\S+)$", re.MULTILINE)
TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ [\w.\-/]+: ")
# What must never appear raw in a log: line breakers and terminal controls.
RAW_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
FORGED = "2026-01-01 00:00:00,000 CRITICAL wardgate: FORGED"
VECTORS = ["\n", "\r\n", "\x1b[2J", "\x0b", "\x85", "\u2028", "\u2029", "\x0c"]


@pytest.fixture
def forged_sts() -> Iterator[str]:
    """An "STS" that answers every connection with a status line full of controls."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()
    reply = (
        b"HTTP/1.1 200 OK\x1b[31m\x0b\xc2\x85\r\n" + FORGED.encode() + b"\r\n"
        b"X-Forged: \x1b]0;title\x07\r\nContent-Length: 5\r\n\r\nnope!"
    )

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                try:
                    conn.recv(65536)
                    conn.sendall(reply)
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    listener.close()


def _send_vectors(url: str, root: str) -> None:
    headers = {"X-Vault-Token": root}
    with httpx.Client(timeout=30) as client:
        for vector in VECTORS:
            body = {"increment": f"1h{vector}{FORGED}"}
            answer = client.post(f"{url}/v1/auth/token/renew-self", json=body, headers=headers)
            assert answer.status_code == 400, answer.text
            mount = {"type": f"nope{vector}{FORGED}"}
            answer = client.post(f"{url}/v1/sys/auth/inject", json=mount, headers=headers)
            assert answer.status_code == 400, answer.text
        # Raw bytes in the request line that an HTTP parser lets through, and encoded ones.
        for path in ("/v1/sys/policy/a%0a" + "FORGED", "/v1/sys/pol%0bicy/x", "/v1/sys/%1b[2J"):
            answer = client.get(url + path, headers=headers)
            assert answer.status_code == 400, answer.text
        for raw in (b"/v1/sys/a\x1bb", b"/v1/sys/a\x0bb", b"/v1/sys/a\xc2\x85b"):
            _raw_get(url, raw)
        signed = sign_get_caller_identity(
            "LTAI5tInjectKey0001", "secret", region="cn-hangzhou", security_token=None
        )
        login = {"role": "dev", **signed.login_data()}
        answer = client.post(f"{url}/v1/auth/alicloud/login", json=login)
        assert answer.status_code in (403, 502), answer.text


def _raw_get(url: str, target: bytes) -> None:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        while sock.recv(65536):
            pass


def _start(tmp_path: Path, log_format: str, sts: str) -> tuple[list[str], int]:
    port = free_port()
    config = tmp_path / "wardgate.toml"
    config.write_text(
        f'[server]\naddress = "127.0.0.1:{port}"\n\n'
        f'[storage]\npath = "{tmp_path / "wardgate.db"}"\n\n'
        f'[log]\nformat = "{log_format}"\nrequests = true\n\n'
        f'[[auth]]\npath = "alicloud"\ntype = "alicloud"\n'
        f'[auth.config]\nsts_endpoint = "{sts}"\n'
    )
    return ["--config", str(config)], port


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_no_client_or_upstream_value_forges_a_log_line(
    tmp_path: Path, forged_sts: str, log_format: str
) -> None:
    args, port = _start(tmp_path, log_format, forged_sts)
    with running_server(args, client_env(tmp_path), port=port, log_dir=tmp_path) as (url, srv):
        (root,) = ROOT_LINE.findall(srv.stderr())
        _send_vectors(url, root)
    log = (tmp_path / "server.stderr").read_bytes().decode("utf-8")
    banner = ("Root token:", "(shown once")
    lines = [line for line in log.split("\n") if line and not line.startswith(banner)]
    assert len(lines) > 3 * len(VECTORS)
    for line in lines:
        assert not RAW_UNSAFE.search(line), repr(line)
        assert not line.startswith(FORGED)
        if log_format == "json":
            assert isinstance(json.loads(line), dict)
        else:
            assert TEXT_LINE.match(line) or line.startswith(("[", "Hypercorn")), repr(line)
    # Every splitter agrees on the number of lines (no U+2028/NEL inside one).
    assert len(log.splitlines()) == len(log.rstrip("\n").split("\n"))
    assert "FORGED" in log  # the values are logged, escaped, not dropped
