"""Unauthenticated work is bounded, and request forms that used to slip through are refused,
against a real `wardgate server` over real sockets:

- a path that needs a token is answered (403) before its body is read, so a caller without a
  token cannot make the server read or decode anything;
- a path that needs none (login) reads at most `max_unauthenticated_request_size` (64 KiB by
  default) and refuses more with 413 before parsing, whether the size is declared or not;
- decoding is bounded in elements, not only in depth and strings;
- a large authenticated body is decoded (off the event loop) and answered correctly;
- control characters in the raw path are 400.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import httpx
import pytest
from support.server import client_env, free_port, running_server

ROOT_LINE = re.compile(r"^Root token: (\S+)$", re.MULTILINE)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    tmp_path = tmp_path_factory.mktemp("limits")
    port = free_port()
    config = tmp_path / "wardgate.toml"
    config.write_text(
        f'[server]\naddress = "127.0.0.1:{port}"\nworkers = 2\n'
        "max_unauthenticated_request_size = 8192\n\n"
        f'[storage]\npath = "{tmp_path / "wardgate.db"}"\n\n'
        '[[auth]]\npath = "alicloud"\ntype = "alicloud"\n'
    )
    env = client_env(tmp_path)
    with running_server(["--config", str(config)], env, port=port, log_dir=tmp_path) as (
        url,
        server,
    ):
        (root,) = ROOT_LINE.findall(server.stderr())
        yield url, root


def _exchange(url: str, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
    """Send a request head (and the start of a body) on a raw socket and read the answer
    without sending anything more: the server must answer from what it has."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head + body)
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    status = int(received.split(b" ", 2)[1])
    return status, received


def _head(method: str, path: str, length: int | None, token: str = "", **extra: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: wardgate", "Content-Type: application/json"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    else:
        lines.append("Transfer-Encoding: chunked")
    if token:
        lines.append(f"X-Vault-Token: {token}")
    lines.extend(f"{k.replace('_', '-')}: {v}" for k, v in extra.items())
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_no_token_is_refused_before_the_body_is_read(live: tuple[str, str]) -> None:
    url, _ = live
    # 30 MB announced, 1 KB sent: the answer comes without the rest.
    head = _head("POST", "/v1/auth/token/create", 30_000_000)
    status, _ = _exchange(url, head, b'{"x":[' + b"[]," * 300)
    assert status == 403
    # A body that is not even JSON: the missing token is what is reported.
    answer = httpx.post(f"{url}/v1/auth/token/create", content=b"{not json")
    assert answer.status_code == 403


def test_unauthenticated_body_is_capped_before_parsing(live: tuple[str, str]) -> None:
    url, _ = live
    status, _ = _exchange(url, _head("POST", "/v1/auth/alicloud/login", 1_000_000), b"{")
    assert status == 413
    # Chunked, no size declared: refused once past the limit.
    chunk = b"2000\r\n" + b" " * 0x2000 + b"\r\n"
    status, _ = _exchange(url, _head("POST", "/v1/auth/alicloud/login", None), chunk * 2)
    assert status == 413
    # Fully sent, just over the configured 8 KiB: 413, not a login error.
    body = b'{"role": "' + b"r" * 9000 + b'"}'
    answer = httpx.post(f"{url}/v1/auth/alicloud/login", content=body)
    assert answer.status_code == 413, answer.text
    small = httpx.post(f"{url}/v1/auth/alicloud/login", json={"role": "r" * 100})
    assert small.status_code in (400, 403), small.text


def test_decoding_is_bounded_in_elements(live: tuple[str, str]) -> None:
    url, root = live
    body = b'{"x":[' + b"[]," * 150_000 + b"[]]}"
    answer = httpx.post(
        f"{url}/v1/auth/token/lookup-self",
        content=body,
        headers={"X-Vault-Token": root},
        timeout=60,
    )
    assert answer.status_code == 400, answer.text
    assert "maximum number of elements" in answer.text


def test_large_authenticated_body_is_decoded_off_the_loop(live: tuple[str, str]) -> None:
    url, root = live
    big = "m" * 1_500_000
    headers = {"X-Vault-Token": root}
    made = httpx.post(
        f"{url}/v1/auth/token/create", json={"meta": {"big": big}}, headers=headers, timeout=60
    )
    assert made.status_code == 200, made.text
    token = made.json()["auth"]["client_token"]
    me = httpx.get(f"{url}/v1/auth/token/lookup-self", headers={"X-Vault-Token": token})
    assert me.json()["data"]["meta"]["big"] == big
    broken = httpx.post(
        f"{url}/v1/auth/token/create",
        content=b'{"meta": "' + b"m" * 1_500_000,
        headers=headers,
        timeout=60,
    )
    assert broken.status_code == 400
    assert "failed to decode JSON input" in broken.text


@pytest.mark.parametrize(
    "path",
    [
        "/v1/sys/pol%09icy/default",
        "/v1/sys/policy/def%0D%0Aault",
        "/v1/sys/policy/%0adefault",
        "/v1/sys/policy/de%1bfault",
        "/v1/sys/policy/de%7ffault",
        "/v1/sys/policy/de%C2%85fault",
        "/v1/sys/policy/de%E2%80%A8fault",
    ],
)
def test_control_characters_in_the_raw_path_are_400(live: tuple[str, str], path: str) -> None:
    url, root = live
    answer = httpx.get(url + path, headers={"X-Vault-Token": root})
    assert answer.status_code == 400, answer.text
    assert "control character" in answer.text
