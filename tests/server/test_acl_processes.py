"""A policy change reaches live tokens in every server process: the real `wardgate server`
with two Hypercorn workers on one SQLite database, requests on fresh connections (so the
kernel spreads them over both workers), and the very next requests after each change."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tests.support.server import (
    bytes_written,
    client_env,
    free_port,
    running_server,
    worker_pids,
)

ROOT_LINE = re.compile(r"^Root token: (\S+)$", re.MULTILINE)
DENIED = {"errors": ["1 error occurred:\n\t* permission denied\n\n"]}
# Enough fresh connections that both workers answer some (checked below through /proc).
ROUNDS = 16

CAN_LIST_MOUNTS = 'path "sys/auth" { capabilities = ["read"] }\n'
CAN_LIST_POLICIES = 'path "sys/policies/acl" { capabilities = ["list"] }\n'


def write_config(tmp_path: Path, port: int) -> Path:
    config = tmp_path / "wardgate.toml"
    config.write_text(
        f"""
[server]
address = "127.0.0.1:{port}"
workers = 2

[storage]
path = "{tmp_path / "wardgate.db"}"
synchronous = "normal"
"""
    )
    return config


def fresh(method: str, url: str, token: str) -> httpx.Response:
    """One request on a new connection: whichever worker accepts it answers."""
    with httpx.Client(timeout=10) as client:
        return client.request(method, url, headers={"X-Vault-Token": token})


def statuses(method: str, url: str, token: str) -> list[int]:
    results = []
    for _ in range(ROUNDS):
        response = fresh(method, url, token)
        if response.status_code == 403:
            assert response.json() == DENIED, response.text
        results.append(response.status_code)
    return results


def test_policy_changes_reach_both_workers_at_once(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path, port)
    env = client_env(tmp_path)
    with running_server(["--config", str(config)], env, port=port, log_dir=tmp_path) as (
        url,
        server,
    ):
        (root,) = ROOT_LINE.findall(server.stderr())
        workers = worker_pids(server)
        if Path("/proc").is_dir():
            assert len(workers) == 2, server.describe()
        as_root = {"X-Vault-Token": root}
        mounts, policies = f"{url}/v1/sys/auth", f"{url}/v1/sys/policies/acl"

        with httpx.Client(timeout=10) as client:

            def put_policy(text: str) -> None:
                response = client.put(
                    f"{url}/v1/sys/policies/acl/probe", json={"policy": text}, headers=as_root
                )
                assert response.status_code == 204, response.text

            put_policy(CAN_LIST_MOUNTS)
            created = client.post(
                f"{url}/v1/auth/token/create",
                json={"policies": ["probe"], "ttl": "1h"},
                headers=as_root,
            )
            assert created.status_code == 200, created.text
            token = created.json()["auth"]["client_token"]

            # Every worker compiles and caches the token's ACL.
            assert statuses("GET", mounts, token) == [200] * ROUNDS
            assert statuses("LIST", policies, token) == [403] * ROUNDS

            before = bytes_written(workers)
            put_policy(CAN_LIST_POLICIES)  # through one worker; the other only sees storage
            assert statuses("GET", mounts, token) == [403] * ROUNDS
            assert statuses("LIST", policies, token) == [200] * ROUNDS
            after = bytes_written(workers)
            answered = [pid for pid in workers if after[pid] > before[pid]]
            assert answered == workers, "fresh connections did not reach both workers"

            put_policy(CAN_LIST_MOUNTS + CAN_LIST_POLICIES)
            assert statuses("GET", mounts, token) == [200] * ROUNDS
            assert statuses("LIST", policies, token) == [200] * ROUNDS

            deleted = client.delete(f"{url}/v1/sys/policies/acl/probe", headers=as_root)
            assert deleted.status_code == 204
            assert statuses("GET", mounts, token) == [403] * ROUNDS

            # `default` is a policy like the others: editing it reaches every worker too.
            lookup = f"{url}/v1/auth/token/lookup-self"
            assert statuses("GET", lookup, token) == [200] * ROUNDS
            edited = client.put(
                f"{url}/v1/sys/policies/acl/default",
                json={"policy": 'path "auth/token/renew-self" { capabilities = ["update"] }'},
                headers=as_root,
            )
            assert edited.status_code == 204, edited.text
            assert statuses("GET", lookup, token) == [403] * ROUNDS
