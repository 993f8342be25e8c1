"""The real server as an operator runs it: `wardgate server --config FILE` under Hypercorn, a
SQLite file on disk, restarts, `kill -9`, two worker processes on one database, config errors."""

from __future__ import annotations

import asyncio
import re
import subprocess
import threading
import time
from pathlib import Path

import httpx
from support.server import (
    ServerProcess,
    bytes_written,
    client_env,
    free_port,
    running_server,
    wardgate_command,
    worker_pids,
)

ROOT_LINE = re.compile(r"^Root token: (\S+)$", re.MULTILINE)


def write_config(tmp_path: Path, *, port: int, workers: int = 1, extra: str = "") -> Path:
    config = tmp_path / "wardgate.toml"
    database = tmp_path / "wardgate.db"
    config.write_text(
        f"""
[server]
address = "127.0.0.1:{port}"
workers = {workers}

[storage]
path = "{database}"
{extra}
"""
    )
    return config


def start(tmp_path: Path, run: str, *, workers: int = 1) -> tuple[int, list[str]]:
    """A fresh port written into the config file; returns (port, server args)."""
    port = free_port()
    config = write_config(tmp_path, port=port, workers=workers)
    (tmp_path / run).mkdir()
    return port, ["--config", str(config)]


def root_tokens(server: ServerProcess) -> list[str]:
    return ROOT_LINE.findall(server.stderr())


def headers(token: str) -> dict[str, str]:
    return {"X-Vault-Token": token}


def create_token(client: httpx.Client, url: str, root: str, **body: object) -> str:
    response = client.post(f"{url}/v1/auth/token/create", json=body, headers=headers(root))
    assert response.status_code == 200, response.text
    token: str = response.json()["auth"]["client_token"]
    return token


def lookup_status(client: httpx.Client, url: str, root: str, token: str) -> int:
    response = client.post(
        f"{url}/v1/auth/token/lookup", json={"token": token}, headers=headers(root)
    )
    return response.status_code


# -- a. first start, restart, data kept --------------------------------------------------------


def test_root_token_printed_once_and_data_survives_restart(tmp_path: Path) -> None:
    env = client_env(tmp_path)
    port, args = start(tmp_path, "run1")
    with running_server(args, env, port=port, log_dir=tmp_path / "run1") as (url, server):
        found = root_tokens(server)
        assert len(found) == 1, server.describe()
        root = found[0]
        with httpx.Client(timeout=10) as client:
            me = client.get(f"{url}/v1/auth/token/lookup-self", headers=headers(root))
            assert me.status_code == 200
            assert me.json()["data"]["policies"] == ["root"]
            child = create_token(client, url, root, ttl="1h", policies=["kept"])
            enabled = client.post(
                f"{url}/v1/sys/auth/kept/alicloud",
                json={"type": "alicloud", "description": "survives restarts"},
                headers=headers(root),
            )
            assert enabled.status_code == 204, enabled.text
    assert root not in server.stdout()

    port, args = start(tmp_path, "run2")
    run2 = running_server(args, env, port=port, log_dir=tmp_path / "run2")
    with run2 as (url, server), httpx.Client(timeout=10) as client:
        me = client.get(f"{url}/v1/auth/token/lookup-self", headers=headers(root))
        assert me.status_code == 200
        looked_up = client.post(
            f"{url}/v1/auth/token/lookup", json={"token": child}, headers=headers(root)
        )
        assert looked_up.status_code == 200
        assert "kept" in looked_up.json()["data"]["policies"]
        mounts = client.get(f"{url}/v1/sys/auth", headers=headers(root)).json()["data"]
        assert mounts["kept/alicloud/"]["description"] == "survives restarts"
    assert root_tokens(server) == [], server.describe()
    assert "Root token" not in server.stderr()


# -- b. kill -9 loses nothing that was acknowledged --------------------------------------------


def test_kill_9_keeps_every_acknowledged_token(tmp_path: Path) -> None:
    env = client_env(tmp_path)
    acknowledged: list[str] = []
    cut_off: list[str] = []  # writers whose request failed because the server died
    lock = threading.Lock()
    stop = threading.Event()

    def create_forever(url: str, root: str) -> None:
        with httpx.Client(timeout=5) as client:
            while not stop.is_set():
                try:
                    token = create_token(client, url, root, ttl="1h")
                except httpx.HTTPError as exc:
                    cut_off.append(type(exc).__name__)
                    return  # the server is gone
                with lock:  # recorded only after the server answered 200
                    acknowledged.append(token)

    port, args = start(tmp_path, "run1")
    with running_server(args, env, port=port, log_dir=tmp_path / "run1") as (url, server):
        (root,) = root_tokens(server)
        writers = [threading.Thread(target=create_forever, args=(url, root)) for _ in range(4)]
        for writer in writers:
            writer.start()
        deadline = time.monotonic() + 10
        while len(acknowledged) < 80 and time.monotonic() < deadline:
            time.sleep(0.02)
        server.kill()  # SIGKILL with requests in flight
        stop.set()
        for writer in writers:
            writer.join(10)
        assert server.returncode == -9
    assert len(acknowledged) >= 20, "too few tokens were created before the kill"
    assert cut_off, "no request was in flight when the server was killed"

    port, args = start(tmp_path, "run2")
    with running_server(args, env, port=port, log_dir=tmp_path / "run2") as (url, server):
        assert root_tokens(server) == []
        with httpx.Client(timeout=10) as client:
            lost = [t for t in acknowledged if lookup_status(client, url, root, t) != 200]
    assert lost == [], f"{len(lost)} of {len(acknowledged)} acknowledged tokens were lost"


# -- c. two workers on one database ------------------------------------------------------------


async def create_and_look_up(url: str, root: str, count: int) -> list[str]:
    limits = httpx.Limits(max_connections=16)
    async with httpx.AsyncClient(timeout=20, limits=limits) as client:

        async def one(i: int) -> str:
            response = await client.post(
                f"{url}/v1/auth/token/create",
                json={"ttl": "1h", "meta": {"i": str(i)}},
                headers=headers(root),
            )
            assert response.status_code == 200, response.text
            token: str = response.json()["auth"]["client_token"]
            # Look it up as itself; on a pooled connection, possibly from the other worker.
            me = await client.get(f"{url}/v1/auth/token/lookup-self", headers=headers(token))
            assert me.status_code == 200, me.text
            assert me.json()["data"]["meta"] == {"i": str(i)}
            return token

        return await asyncio.gather(*(one(i) for i in range(count)))


def fresh_connection_status(url: str, token: str) -> int:
    # A new connection per request: the kernel hands it to whichever worker accepts first.
    with httpx.Client(timeout=10) as client:
        response = client.get(f"{url}/v1/auth/token/lookup-self", headers=headers(token))
        return response.status_code


def test_two_workers_share_one_database(tmp_path: Path) -> None:
    env = client_env(tmp_path)
    port, args = start(tmp_path, "run1", workers=2)
    with running_server(args, env, port=port, log_dir=tmp_path / "run1") as (url, server):
        (root,) = root_tokens(server)
        tokens = asyncio.run(create_and_look_up(url, root, 120))
        assert len(set(tokens)) == 120
        workers = worker_pids(server)
        if Path("/proc").is_dir():
            assert len(workers) == 2, server.describe()
        before = bytes_written(workers)

        with httpx.Client(timeout=10) as client:
            for token in tokens[:5]:
                assert all(fresh_connection_status(url, token) == 200 for _ in range(4))
                revoked = client.post(
                    f"{url}/v1/auth/token/revoke", json={"token": token}, headers=headers(root)
                )
                assert revoked.status_code == 204, revoked.text
                statuses = [fresh_connection_status(url, token) for _ in range(8)]
                assert statuses == [403] * 8, statuses
                assert lookup_status(client, url, root, token) == 403

            after = bytes_written(workers)
            answered = [pid for pid in workers if after[pid] > before[pid]]
            assert answered == workers, "fresh connections did not reach both workers"

            listed = client.request("LIST", f"{url}/v1/auth/token/accessors", headers=headers(root))
            assert listed.status_code == 200, listed.text
            assert len(listed.json()["data"]["keys"]) >= 120 - 5


# -- d. configuration errors -------------------------------------------------------------------


def run_server_command(
    *args: str, cwd: Path, timeout: float = 20
) -> subprocess.CompletedProcess[str]:
    """`wardgate server ARGS`, expected to exit by itself (a config error)."""
    out_path, err_path = cwd / "command.stdout", cwd / "command.stderr"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        process = subprocess.Popen(
            [*wardgate_command(), "server", *args],
            env=client_env(cwd),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
        )
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise AssertionError(
                f"wardgate server {' '.join(args)} was still running after {timeout} s; "
                f"stderr:\n{err_path.read_text(errors='replace')}"
            ) from None
    return subprocess.CompletedProcess(
        process.args, process.returncode, out_path.read_text(), err_path.read_text()
    )


def test_unknown_config_key_is_named(tmp_path: Path) -> None:
    config = write_config(tmp_path, port=free_port(), extra="[server2]\nx = 1\n")
    result = run_server_command("--config", str(config), cwd=tmp_path)
    assert result.returncode != 0
    assert "server2" in result.stderr

    config.write_text('[server]\naddress = "127.0.0.1:1"\nbogus_setting = true\n')
    result = run_server_command("--config", str(config), cwd=tmp_path)
    assert result.returncode != 0
    assert "bogus_setting" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "wardgate.db").exists()


def test_server_without_arguments_is_a_usage_error(tmp_path: Path) -> None:
    result = run_server_command(cwd=tmp_path)
    assert result.returncode != 0
    assert "--config" in result.stderr
    assert not (tmp_path / "data").exists()  # nothing created in the working directory


def test_missing_config_file(tmp_path: Path) -> None:
    result = run_server_command("--config", str(tmp_path / "nope.toml"), cwd=tmp_path)
    assert result.returncode != 0
    assert "nope.toml" in result.stderr


def test_unknown_auth_type_in_config_stops_the_server(tmp_path: Path) -> None:
    extra = '[[auth]]\npath = "team/x"\ntype = "no-such-type"\n'
    config = write_config(tmp_path, port=free_port(), extra=extra)
    result = run_server_command("--config", str(config), cwd=tmp_path, timeout=10)
    assert result.returncode != 0
    assert "no-such-type" in result.stderr


def test_bad_plugin_option_in_config_stops_the_server(tmp_path: Path) -> None:
    extra = '[[auth]]\npath = "ali"\ntype = "alicloud"\n[auth.config]\nbogus_option = 1\n'
    config = write_config(tmp_path, port=free_port(), extra=extra)
    result = run_server_command("--config", str(config), cwd=tmp_path, timeout=10)
    assert result.returncode != 0
    assert "bogus_option" in result.stderr
