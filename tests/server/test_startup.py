"""Start-up as an operator meets it: every failure to start is one line naming what and where,
exits non-zero, prints no traceback and initialises nothing, so the next start of the same
database still prints the root token. Real `wardgate server` processes throughout."""

from __future__ import annotations

import os
import re
import shutil
import socket
import stat
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.support.server import (
    client_env,
    free_port,
    running_server,
    wait_for_workers,
    wardgate_command,
    write_server_config,
)

ROOT_LINE = re.compile(r"^Root token: (\S+)$", re.MULTILINE)


def run_to_exit(
    args: list[str], cwd: Path, *, prefix: list[str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`wardgate ARGS`, expected to exit by itself."""
    return subprocess.run(
        [*(prefix or []), *wardgate_command(), *args],
        cwd=cwd,
        env=client_env(cwd),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_one_line(result: subprocess.CompletedProcess[str], expected: str) -> None:
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip().splitlines() == [expected], result.stderr
    assert "Root token" not in result.stdout + result.stderr


def assert_later_start_prints_root(tmp_path: Path, database: Path) -> None:
    """The failed start initialised nothing: a good start on the same database prints the
    root token, and it works."""
    port = free_port()
    run_dir = tmp_path / "good"
    run_dir.mkdir()
    config = write_server_config(run_dir, port=port, database=database)
    args = ["--config", str(config)]
    env = client_env(tmp_path)
    with running_server(args, env, port=port, log_dir=run_dir) as (url, server):
        (root,) = ROOT_LINE.findall(server.stderr())
        me = httpx.get(f"{url}/v1/auth/token/lookup-self", headers={"X-Vault-Token": root})
        assert me.status_code == 200


def test_taken_port_is_one_line_and_a_later_start_prints_the_root_token(tmp_path: Path) -> None:
    database = tmp_path / "data" / "wardgate.db"
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        config = write_server_config(tmp_path, port=port, database=database)
        result = run_to_exit(["server", "--config", str(config)], tmp_path)
    assert_one_line(
        result, f"wardgate: cannot start: the listen address is already in use (127.0.0.1:{port})"
    )
    assert_later_start_prints_root(tmp_path, database)


def test_missing_tls_file(tmp_path: Path) -> None:
    database = tmp_path / "wardgate.db"
    missing = tmp_path / "nope.pem"
    config = write_server_config(
        tmp_path,
        port=free_port(),
        database=database,
        server=f'tls_cert_file = "{missing}"\ntls_key_file = "{missing}"',
    )
    result = run_to_exit(["server", "--config", str(config)], tmp_path)
    assert_one_line(
        result,
        f"wardgate: cannot start: cannot read server.tls_cert_file: "
        f"no such file or directory ({missing})",
    )
    assert_later_start_prints_root(tmp_path, database)


def test_tls_file_that_is_not_a_certificate(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    config = write_server_config(
        tmp_path,
        port=free_port(),
        server=f'tls_cert_file = "{junk}"\ntls_key_file = "{junk}"',
    )
    result = run_to_exit(["server", "--config", str(config)], tmp_path)
    assert_one_line(
        result,
        "wardgate: cannot start: server.tls_cert_file and tls_key_file are not a PEM "
        f"certificate and its key ({junk}, {junk})",
    )


def without_root_privileges() -> list[str]:
    """A command prefix under which file permissions bind this process: nothing for a normal
    user; for root, setpriv dropping the capabilities that override them."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: permissions do not apply to root")
    caps = "-dac_override,-dac_read_search"
    return [setpriv, f"--inh-caps={caps}", f"--bounding-set={caps}"]


def test_unwritable_data_directory(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o500)
    config = write_server_config(tmp_path, port=free_port(), database=data / "wardgate.db")
    result = run_to_exit(
        ["server", "--config", str(config)], tmp_path, prefix=without_root_privileges()
    )
    assert_one_line(
        result,
        f"wardgate: cannot start: the data directory is not writable: permission denied ({data})",
    )
    assert not (data / "wardgate.db").exists()


def test_storage_path_under_a_regular_file(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a directory\n")
    config = write_server_config(
        tmp_path, port=free_port(), database=blocker / "data" / "wardgate.db"
    )
    result = run_to_exit(["server", "--config", str(config)], tmp_path)
    assert_one_line(
        result, f"wardgate: cannot start: storage.path is under a regular file ({blocker})"
    )


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("127.0.0.1", "'127.0.0.1' has no port (write host:port, e.g. 127.0.0.1:8200)"),
        ("127.0.0.1:http", "'127.0.0.1:http': the port must be a number from 1 to 65535"),
        ("::1:8200", "'::1:8200': write an IPv6 address in brackets, e.g. [::1]:8200"),
    ],
)
def test_listen_address_needs_a_port(tmp_path: Path, address: str, problem: str) -> None:
    port = free_port()
    config = write_server_config(tmp_path, port=port)
    config.write_text(config.read_text().replace(f'"127.0.0.1:{port}"', f'"{address}"'))
    result = run_to_exit(["server", "--config", str(config)], tmp_path)
    assert_one_line(result, f"wardgate: cannot start: {config}: server.address {problem}")
    assert not (tmp_path / "wardgate.db").exists()


def test_data_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    data = tmp_path / "state" / "data"
    port = free_port()
    config = write_server_config(tmp_path, port=port, database=data / "wardgate.db")
    env = client_env(tmp_path)
    args = ["--config", str(config)]
    with running_server(args, env, port=port, log_dir=tmp_path, umask=0) as (url, _):
        assert httpx.get(f"{url}/v1/sys/health").status_code == 200
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in data.iterdir()}
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        assert stat.S_IMODE(data.parent.stat().st_mode) == 0o700  # created by the server too
    assert {"wardgate.db", "wardgate.db-wal", "wardgate.db-shm"} <= set(modes), modes
    assert all(mode == 0o600 for mode in modes.values()), {k: oct(v) for k, v in modes.items()}


@pytest.mark.parametrize("workers", ["auto", 0])
def test_workers_auto_is_one_per_core(tmp_path: Path, workers: str | int) -> None:
    port = free_port()
    config = write_server_config(tmp_path, port=port, workers=workers)
    env = client_env(tmp_path)
    with running_server(["--config", str(config)], env, port=port, log_dir=tmp_path) as (_, proc):
        assert len(wait_for_workers(proc, os.cpu_count() or 1)) == os.cpu_count(), proc.describe()
        assert f"({os.cpu_count()} worker(s))" in proc.stderr()
