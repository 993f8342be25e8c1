"""The benchmark's scale test fills a stopped server's SQLite file with tokens; the server must
find every one of them afterwards (a change to how tokens are stored once broke the filler)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx

from bench.scale import _bulk_ok, fill_tokens
from tests.support.server import client_env, free_port, running_server, write_server_config


def _token_count(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT count(*) FROM kv WHERE key LIKE 'sys/token/id/%'").fetchone()
    return int(row[0])


def test_filled_tokens_are_live_tokens_of_the_restarted_server(tmp_path: Path) -> None:
    port = free_port()
    config = write_server_config(tmp_path, port=port)
    db = tmp_path / "wardgate.db"
    env = client_env(tmp_path)
    with running_server(["--config", str(config)], env, port=port, log_dir=tmp_path / "a"):
        pass
    before = _token_count(db)
    assert _bulk_ok(db), "the server's table changed shape: the filler would take its slow path"

    token = fill_tokens(db, 300)

    assert _token_count(db) == before + 300
    with running_server(["--config", str(config)], env, port=port, log_dir=tmp_path / "b") as (
        base_url,
        _,
    ):
        answer = httpx.get(
            f"{base_url}/v1/auth/token/lookup-self", headers={"X-Vault-Token": token}
        )
        assert answer.status_code == 200, answer.text
        data = answer.json()["data"]
        assert data["policies"] == ["default"]
        assert data["ttl"] > 3600
        forged = httpx.get(
            f"{base_url}/v1/auth/token/lookup-self", headers={"X-Vault-Token": token[:-1] + "x"}
        )
        assert forged.status_code == 403
