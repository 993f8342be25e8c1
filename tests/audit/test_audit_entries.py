"""Audit devices in-process: the sys/audit API, Vault's entry shape, what is HMAC'd, options,
and "audit or fail" (spec vault-operability §1)."""

from __future__ import annotations

import json
import os
import socket
import stat
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT_TOKEN


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def enable(srv: Any, name: str, **options: Any) -> Any:
    body = {"type": options.pop("type", "file"), "options": options}
    return await srv.call("PUT", f"/v1/sys/audit/{name}", json=body)


async def test_enable_list_disable(server: Any, tmp_path: Path) -> None:
    log = tmp_path / "sub" / "audit.log"
    resp = await enable(server, "file", file_path=str(log))
    assert resp.status_code == 204, resp.text
    # The test probe went to the file first, then this request's own response entry.
    probe, own = lines(log)
    assert probe["type"] == "request" and probe["request"]["path"] == "sys/audit/test"
    assert probe["auth"] == {"token_type": "default"}
    assert own["type"] == "response" and own["request"]["path"] == "sys/audit/file"
    assert stat.S_IMODE(os.stat(log).st_mode) == 0o600

    listed = (await server.call("GET", "/v1/sys/audit")).json()
    device = {
        "description": "",
        "local": False,
        "options": {"file_path": str(log)},
        "path": "file/",
        "type": "file",
    }
    assert listed["file/"] == device and listed["data"] == {"file/": device}
    assert (await server.call("LIST", "/v1/sys/audit")).status_code == 404
    assert (await server.call("GET", "/v1/sys/audit/file")).status_code == 405
    nested = await enable(server, "file/sub", file_path=str(log))
    assert nested.status_code == 400 and nested.json()["errors"] == ["path already in use"]
    assert (await server.call("DELETE", "/v1/sys/audit/file")).status_code == 204
    assert (await server.call("DELETE", "/v1/sys/audit/file")).status_code == 204
    assert (await server.call("GET", "/v1/sys/audit")).json()["data"] == {}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"type": "nope"}, 'unknown backend type: "nope"'),
        ({"type": "file"}, "file_path is required"),
        (
            {"type": "file", "options": {"file_path": "discard", "format": "jsonx"}},
            "jsonx formatting has been removed",
        ),
        ({"type": "file", "options": {"file_path": "discard", "format": "x"}}, "unknown format"),
        ({"type": "file", "options": {"file_path": "discard", "prefix": "A:"}}, "prefixing"),
        ({"type": "file", "options": {"file_path": "discard", "mode": "0755"}}, "executable"),
        ({"type": "socket", "options": {}}, "address is required"),
        # Vault's key=value form needs the `=` and a key.
        ({"type": "file", "options": "file_path"}, "invalid key pair 'file_path'"),
        ({"type": "file", "options": ["=discard"]}, "invalid key pair '=discard'"),
        ({"type": "file", "options": {"file_path": {"a": 1}}}, "expected a string"),
    ],
)
async def test_enable_refusals(server: Any, body: dict[str, Any], message: str) -> None:
    resp = await server.call("PUT", "/v1/sys/audit/x", json=body)
    assert resp.status_code == 400, resp.text
    assert message in resp.json()["errors"][0]


@pytest.mark.parametrize("form", ["one", "list"])
async def test_options_as_key_value_strings(server: Any, tmp_path: Path, form: str) -> None:
    # Vault's TypeKVPairs: what `wardgate write sys/audit/file type=file options=file_path=...`
    # (and `vault write`) sends, the value split at its first `=` only.
    log = tmp_path / "a=b.log"
    pairs = [f"file_path={log}", "mode=0640"]
    options: Any = pairs[0] if form == "one" else pairs
    resp = await server.call("PUT", "/v1/sys/audit/file", json={"type": "file", "options": options})
    assert resp.status_code == 204, resp.text
    listed = (await server.call("GET", "/v1/sys/audit")).json()["data"]["file/"]["options"]
    expected = {"file_path": str(log)} | ({"mode": "0640"} if form == "list" else {})
    assert listed == expected


async def test_audit_needs_sudo(server: Any, tmp_path: Path) -> None:
    policy = 'path "sys/audit*" { capabilities = ["create", "read", "update", "delete"] }'
    await server.call("PUT", "/v1/sys/policies/acl/auditish", json={"policy": policy})
    token = (
        await server.call("POST", "/v1/auth/token/create", json={"policies": ["auditish"]})
    ).json()["auth"]["client_token"]
    resp = await server.call(
        "PUT", "/v1/sys/audit/f", token=token, json={"type": "file", "options": {}}
    )
    assert resp.status_code == 403
    assert (await server.call("GET", "/v1/sys/audit", token=token)).status_code == 403


async def test_entries_hash_tokens_and_data(server: Any, tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    await enable(server, "file", file_path=str(log))
    created = await server.call(
        "POST",
        "/v1/auth/token/create",
        json={
            "policies": ["reader"],
            "ttl": "1h",
            "display_name": "alice",
            "meta": {"team": "x"},
            "num_uses": 5,
        },
    )
    auth = created.json()["auth"]
    request_id = created.json()["request_id"]
    entries = [e for e in lines(log) if e["request"].get("id") == request_id]
    assert [e["type"] for e in entries] == ["request", "response"]
    req, resp = entries
    text = log.read_text()
    for secret in (ROOT_TOKEN, auth["client_token"], auth["accessor"], "alice"):
        assert secret not in text, secret
    hashed = (
        await server.call("POST", "/v1/sys/audit-hash/file", json={"input": ROOT_TOKEN})
    ).json()
    assert hashed["hash"] == hashed["data"]["hash"] == req["auth"]["client_token"]
    assert req["request"]["client_token"] == req["auth"]["client_token"]
    assert req["auth"]["policies"] == ["root"] and req["auth"]["policy_results"]["allowed"]
    assert req["request"]["client_id"] == "0DHqvq2D77kL2/JTPSZkTMJbkFVmUu0TzMi0jiXcFy8="
    assert req["request"]["operation"] == "update"
    assert req["request"]["mount_point"] == "auth/token/"
    assert req["request"]["mount_type"] == "token" and req["request"]["mount_class"] == "auth"
    assert req["request"]["namespace"] == {"id": "root"}
    assert req["request"]["remote_address"] == "127.0.0.1"
    data = req["request"]["data"]
    assert data["num_uses"] == 5  # numbers stay clear
    assert data["policies"][0].startswith("hmac-sha256:")
    assert data["meta"]["team"].startswith("hmac-sha256:")
    assert (
        data["display_name"]
        == (await server.call("POST", "/v1/sys/audit-hash/file", json={"input": "alice"})).json()[
            "data"
        ]["hash"]
    )
    issued = resp["response"]["auth"]
    assert issued["client_token"].startswith("hmac-sha256:")
    assert issued["accessor"].startswith("hmac-sha256:")
    assert issued["metadata"] == {"team": "x"}  # metadata is clear, as in Vault
    assert issued["token_ttl"] == 3600 and issued["num_uses"] == 5
    for entry in entries:
        assert entry["time"].endswith("Z")


async def test_errors_are_audited(server: Any, tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    await enable(server, "file", file_path=str(log))
    token = (
        await server.call("POST", "/v1/auth/token/create", json={"policies": ["default"]})
    ).json()["auth"]["client_token"]
    denied = await server.call("GET", "/v1/sys/auth", token=token)
    assert denied.status_code == 403
    entries = [e for e in lines(log) if e["request"]["path"] == "sys/auth"]
    req, resp = entries
    assert req["auth"]["policy_results"] == {"allowed": False}
    assert req["error"] == resp["error"] == "1 error occurred:\n\t* permission denied\n\n"
    assert resp["response"]["data"]["error"].startswith("hmac-sha256:")
    bad = await server.call("GET", "/v1/auth/token/lookup-self", token="s.nope")
    assert bad.status_code == 403
    last = lines(log)[-1]
    assert last["type"] == "response" and last["request"]["path"] == "auth/token/lookup-self"
    assert "s.nope" not in log.read_text()
    # sys/health is never audited.
    before = len(lines(log))
    await server.call("GET", "/v1/sys/health", token=None)
    assert len(lines(log)) == before


async def test_options_raw_accessor_elide(server_factory: Any, tmp_path: Path) -> None:
    from core.config import Config, ServerConfig, StorageConfig

    config = Config(
        storage=StorageConfig(backend="memory"),
        server=ServerConfig(allow_audit_log_prefixing=True),
    )
    async with server_factory(config) as srv:
        raw = tmp_path / "raw.log"
        resp = await enable(
            srv,
            "raw",
            file_path=str(raw),
            log_raw="true",
            elide_list_responses=True,
            prefix="AUDIT:",
        )
        assert resp.status_code == 204, resp.text
        acc = tmp_path / "acc.log"
        await enable(srv, "acc", file_path=str(acc), hmac_accessor="false")
        await srv.call("POST", "/v1/auth/token/create", json={"policies": ["default"]})
        listed = await srv.call("LIST", "/v1/auth/token/accessors")
        accessors = listed.json()["data"]["keys"]
        text = raw.read_text()
        assert all(line.startswith("AUDIT:{") for line in text.splitlines())
        entries = [json.loads(line[len("AUDIT:") :]) for line in text.splitlines()]
        listing = [e for e in entries if e["request"]["path"] == "auth/token/accessors/"][-1]
        assert listing["response"]["data"] == {"keys": len(accessors)}
        assert listing["auth"]["client_token"] == ROOT_TOKEN  # log_raw: nothing hashed
        clear = [e for e in lines(acc) if e["request"]["path"] == "auth/token/accessors/"][-1]
        assert clear["auth"]["client_token"].startswith("hmac-sha256:")
        assert not clear["auth"]["accessor"].startswith("hmac-sha256:")
        assert clear["response"]["data"]["keys"][0].startswith("hmac-sha256:")
        # Each device has its own salt.
        h1 = (await srv.call("POST", "/v1/sys/audit-hash/acc", json={"input": "x"})).json()
        await enable(srv, "other", file_path=str(tmp_path / "o.log"))
        h2 = (await srv.call("POST", "/v1/sys/audit-hash/other", json={"input": "x"})).json()
        assert h1["data"]["hash"] != h2["data"]["hash"]
        assert (await srv.call("POST", "/v1/sys/audit-hash/none", json={"input": "x"})).json()[
            "errors"
        ] == ['unknown audit backend "none/"']
        empty = await srv.call("POST", "/v1/sys/audit-hash/acc", json={})
        assert empty.json()["errors"] == ['the "input" parameter is empty']


async def test_audit_or_fail(server: Any, tmp_path: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    resp = await enable(server, "sock", type="socket", address=f"127.0.0.1:{port}")
    assert resp.status_code == 204, resp.text
    conn, _ = listener.accept()
    assert b'"path":"sys/audit/test"' in conn.recv(65536)
    conn.close()
    listener.close()
    # No device can write: the request is not executed, the client gets 500.
    for _ in range(2):
        refused = await server.call("POST", "/v1/auth/token/create", json={})
        assert refused.status_code == 500
        assert refused.json() == {"errors": ["internal error"]}
    accessors = (await server.call("LIST", "/v1/auth/token/accessors")).status_code
    assert accessors == 500
    # The listener comes back: requests go through again (the device reconnects).
    revived = socket.socket()
    revived.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    revived.bind(("127.0.0.1", port))
    revived.listen()
    try:
        ok = await server.call("POST", "/v1/auth/token/create", json={})
        assert ok.status_code == 200
        conn, _ = revived.accept()
        conn.settimeout(5)
        received = b""
        while received.count(b"\n") < 2:
            received += conn.recv(65536)
        first, second = (json.loads(line) for line in received.splitlines()[:2])
        assert first["type"] == "request" and second["type"] == "response"
        assert second["request"]["id"] == ok.json()["request_id"]
        conn.close()
    finally:
        revived.close()


async def test_one_table_read_per_request(server: Any, tmp_path: Path) -> None:
    """The response entry goes where the request entry went without reading the device
    table again, unless this process changed it meanwhile (test_enable_list_disable)."""
    log = tmp_path / "audit.log"
    assert (await enable(server, "file", file_path=str(log))).status_code == 204
    storage = server.runtime.storage
    reads: list[str] = []
    get, get_many = storage.get, storage.get_many

    async def counting_get(key: str) -> Any:
        reads.append(key)
        return await get(key)

    async def counting_get_many(keys: list[str]) -> Any:
        reads.extend(keys)
        return await get_many(keys)

    storage.get, storage.get_many = counting_get, counting_get_many
    before = len(lines(log))
    assert (await server.call("GET", "/v1/auth/token/lookup-self")).status_code == 200
    # Read once, with the mount and quota tables (core/tables.py).
    assert reads.count("core/audit") == 1
    assert reads.count("core/mounts") == 1 and reads.count("core/quotas") == 1
    entries = lines(log)[before:]
    assert [e["type"] for e in entries] == ["request", "response"]
    assert {e["request"]["path"] for e in entries} == {"auth/token/lookup-self"}
    # Disabling the device in this request: its response entry is not written to it.
    assert (await server.call("DELETE", "/v1/sys/audit/file")).status_code == 204
    assert [e["type"] for e in lines(log)[before + 2 :]] == ["request"]
