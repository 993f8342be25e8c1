"""Audit devices on a real `wardgate server`, driven by hvac: entries with every secret HMAC'd
(an AliCloud login included), sys/audit-hash, a dead socket device blocking requests until it
recovers, and log rotation with SIGHUP on a 2-worker server (spec vault-operability §1)."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import hvac
import pytest
from hvac.exceptions import InternalServerError

from plugins.alicloud.emulator import demo_identities
from plugins.alicloud.login import login_payload
from tests.server.test_acl_processes import worker_pids
from tests.support.server import client_env, free_port, running_server

ROOT = "audit-root"


def entries(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[hvac.Client]:
    home: Path = tmp_path_factory.mktemp("audit")
    args = ["--dev", "--dev-root-token-id", ROOT]
    with running_server(args, client_env(home), log_dir=home / "logs") as (url, _):
        client = hvac.Client(url=url, token=ROOT)
        yield client
        client.adapter.close()


async def test_entries_hmac_everything_secret(vault: hvac.Client, tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    vault.sys.enable_audit_device("file", path="main", options={"file_path": str(log)})
    assert vault.sys.list_enabled_audit_devices()["data"]["main/"]["type"] == "file"

    created = vault.auth.token.create(policies=["default"], ttl="1h", meta={"team": "ops"})
    token, accessor = created["auth"]["client_token"], created["auth"]["accessor"]
    child = hvac.Client(url=vault.url, token=token)
    child.auth.token.lookup_self()

    demo = next(i for i in demo_identities() if i.security_token)
    account, role_name = demo.account_id, demo.arn.split("/")[1]
    vault.write("auth/alicloud/role/audited", arn=f"acs:ram::{account}:role/{role_name}")
    body = await login_payload(
        "audited",
        "cn-hangzhou",
        access_key=demo.access_key_id,
        secret_key=demo.access_key_secret,
        security_token=demo.security_token,
    )
    login = hvac.Client(url=vault.url).adapter.post("/v1/auth/alicloud/login", json=body)
    login_token = login["auth"]["client_token"]

    text = log.read_text()
    secrets = [
        ROOT,
        token,
        accessor,
        login_token,
        login["auth"]["accessor"],
        demo.access_key_id,
        demo.access_key_secret,
        demo.security_token,
        body["identity_request_url"],
        *(
            [body["identity_request_headers"]]
            if isinstance(body["identity_request_headers"], str)
            else []
        ),
    ]
    for secret in secrets:
        assert secret not in text, secret
    assert "Signature" not in text and "signature" not in text.lower()

    logged = entries(log)
    assert all(e["type"] in ("request", "response") for e in logged)
    root_hash = vault.sys.calculate_hash("main", ROOT)["data"]["hash"]
    mine = [e for e in logged if e["request"]["path"] == "auth/token/create"]
    assert [e["type"] for e in mine] == ["request", "response"]
    assert mine[0]["auth"]["client_token"] == root_hash
    assert (
        mine[1]["response"]["auth"]["client_token"]
        == vault.sys.calculate_hash("main", token)["data"]["hash"]
    )
    self_lookup = [e for e in logged if e["request"]["path"] == "auth/token/lookup-self"]
    assert (
        self_lookup[-1]["response"]["data"]["id"]
        == vault.sys.calculate_hash("main", token)["data"]["hash"]
    )

    # The AliCloud login: the caller's identity in clear, the signed request hashed.
    logins = [e for e in logged if e["request"]["path"] == "auth/alicloud/login"]
    request_entry, response_entry = logins
    assert request_entry["auth"] == {"token_type": "default"}
    assert request_entry["request"]["data"]["role"].startswith("hmac-sha256:")
    assert request_entry["request"]["data"]["identity_request_url"].startswith("hmac-sha256:")
    metadata = response_entry["response"]["auth"]["metadata"]
    assert metadata["arn"] == demo.arn and metadata["account_id"] == account
    assert response_entry["auth"]["metadata"] == metadata  # the new token is the entry's auth
    vault.sys.disable_audit_device("main")


def test_dead_socket_device_blocks_until_it_recovers(vault: hvac.Client) -> None:
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    options = {"address": f"127.0.0.1:{port}", "socket_type": "tcp", "write_timeout": "2s"}
    vault.sys.enable_audit_device("socket", path="sock", options=options)
    conn, _ = listener.accept()
    conn.settimeout(10)
    assert b"sys/audit/test" in conn.recv(65536)
    conn.close()
    listener.close()
    try:
        for _ in range(2):
            with pytest.raises(InternalServerError, match="internal error"):
                vault.auth.token.create(policies=["default"], ttl="1m")
        revived = socket.socket()
        revived.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        revived.bind(("127.0.0.1", port))
        revived.listen()
        try:
            created = vault.auth.token.create(policies=["default"], ttl="1m")
            assert created["auth"]["client_token"]
        finally:
            revived.close()
    finally:
        listener.close()
    # No listener again: disabling the device is itself refused (audit or fail), so stand
    # one up to let the disable through.
    last = socket.socket()
    last.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    last.bind(("127.0.0.1", port))
    last.listen()
    try:
        vault.sys.disable_audit_device("sock")
    finally:
        last.close()
    assert "sock/" not in vault.sys.list_enabled_audit_devices()["data"]


def _config(tmp_path: Path, port: int, log: Path) -> Path:
    config = tmp_path / "wardgate.toml"
    config.write_text(
        f"""
[server]
address = "127.0.0.1:{port}"
workers = 2

[storage]
path = "{tmp_path / "wardgate.db"}"
synchronous = "normal"

[[audit]]
path = "file"
type = "file"
options = {{ file_path = "{log}" }}
"""
    )
    return config


def _spread(url: str, token: str, count: int) -> None:
    """`count` requests on fresh connections, so both workers serve some."""
    for _ in range(count):
        with httpx.Client(timeout=10) as client:
            resp = client.get(f"{url}/v1/auth/token/lookup-self", headers={"X-Vault-Token": token})
            assert resp.status_code == 200, resp.text


def _wait_for(predicate: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_sighup_rotation_with_two_workers(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "audit.log"
    config = _config(tmp_path, port, log)
    with running_server(
        ["--config", str(config)], client_env(tmp_path), port=port, log_dir=tmp_path
    ) as (url, server):
        root = next(
            line.split()[-1]
            for line in server.stderr().splitlines()
            if line.startswith("Root token:")
        )
        _spread(url, root, 20)
        workers = worker_pids(server)
        assert len(workers) == 2
        rotated = tmp_path / "audit.log.1"
        os.rename(log, rotated)
        # Until the signal, each worker keeps writing to the renamed file (its open fd).
        _spread(url, root, 4)
        before = len(entries(rotated))
        for pid in workers:
            os.kill(pid, signal.SIGHUP)
        _wait_for(lambda: server.stderr().count("reloading file audit device") >= 2)
        _spread(url, root, 20)
        assert worker_pids(server) == workers  # reopened in place, not restarted
        fresh = entries(log)
        assert len(entries(rotated)) == before  # nothing more went to the old file
        assert len(fresh) == 40  # 20 requests, a request and a response entry each
        # Both workers reopened and wrote to the new file (whole lines, each valid JSON).
        for pid in workers:
            targets = {os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()}
            assert str(log) in targets and str(rotated) not in targets, (pid, targets)
        assert oct(os.stat(log).st_mode & 0o777) == "0o600"
        with httpx.Client(timeout=10) as client:
            lookups = client.get(
                f"{url}/v1/auth/token/lookup-self", headers={"X-Vault-Token": root}
            )
        assert lookups.status_code == 200
