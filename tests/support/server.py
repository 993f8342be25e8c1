"""Run the real `wardgate server` as a subprocess on a free loopback port, as a client sees it.

    with running_server(["--dev"], env) as (base_url, server):
        httpx.get(f"{base_url}/v1/sys/health")

Arguments may contain `{address}` (127.0.0.1:<port>) and `{port}`; `--dev` without an address
gets `--dev-listen-address`. The server runs in its own process group, so its Hypercorn workers
go with it. Output goes to files (no pipe can fill up); `server.stderr()` reads it at any time.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import httpx

READY_TIMEOUT = 60.0  # generous: spawned workers start slowly on a loaded machine
STOP_TIMEOUT = 10.0


def wardgate_command() -> list[str]:
    """The installed `wardgate` script next to this Python, else `python -m core.cli`."""
    script = Path(sys.executable).parent / "wardgate"
    return [str(script)] if script.exists() else [sys.executable, "-m", "core.cli"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def client_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment without any WARDGATE_*/VAULT_* settings of the person running tests."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WARDGATE_", "VAULT_"))}
    env["HOME"] = str(home)
    env.update(extra)
    return env


class ServerProcess:
    def __init__(
        self,
        args: Sequence[str],
        env: Mapping[str, str],
        log_dir: Path,
        *,
        umask: int = -1,
        cwd: Path | None = None,
    ) -> None:
        self.args = list(args)
        self._out_path = log_dir / "server.stdout"
        self._err_path = log_dir / "server.stderr"
        with self._out_path.open("wb") as out, self._err_path.open("wb") as err:
            self.popen = subprocess.Popen(
                [*wardgate_command(), "server", *self.args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=dict(env),
                start_new_session=True,
                umask=umask,
                cwd=cwd,
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def stdout(self) -> str:
        return self._out_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self._err_path.read_text(errors="replace")

    def signal_group(self, sig: int) -> None:
        # The group is the one this process leads (start_new_session): the server and its
        # workers, nothing else.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, sig)

    def kill(self) -> None:
        """SIGKILL the server and its workers, as a crash or `kill -9` would."""
        self.signal_group(signal.SIGKILL)
        self.popen.wait(STOP_TIMEOUT)

    def stop(self) -> int:
        """SIGTERM, then SIGKILL if it does not exit in time; returns the exit code."""
        if self.popen.poll() is None:
            self.signal_group(signal.SIGTERM)
            try:
                self.popen.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.signal_group(signal.SIGKILL)
                self.popen.wait(STOP_TIMEOUT)
        # Workers left behind by a parent that died first.
        self.signal_group(signal.SIGKILL)
        return self.popen.returncode

    def describe(self) -> str:
        return (
            f"wardgate server {' '.join(self.args)} (exit {self.returncode})\n"
            f"--- stdout ---\n{self.stdout()}\n--- stderr ---\n{self.stderr()}"
        )


def worker_pids(server: ServerProcess) -> list[int]:
    """The server's worker processes (Linux /proc; [] elsewhere): its children, less
    multiprocessing's resource tracker. granian forks them, Hypercorn spawns them."""
    pids: list[int] = []
    for children in Path(f"/proc/{server.pid}/task").glob("*/children"):
        for pid in children.read_text().split():
            with contextlib.suppress(OSError):
                if b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                    pids.append(int(pid))
    return pids


def wait_for_workers(server: ServerProcess, count: int, timeout: float = 60.0) -> list[int]:
    """The worker pids once `count` of them run (spawned one after the other, the first may
    answer requests before the last exists); fewer if `timeout` passes first."""
    deadline = time.monotonic() + timeout
    while len(pids := worker_pids(server)) < count and time.monotonic() < deadline:
        time.sleep(0.2)
    return pids


def bytes_written(pids: list[int]) -> dict[int, int]:
    """Bytes each process has written (sockets included): which workers answered."""
    written = {}
    for pid in pids:
        match = re.search(r"^wchar: (\d+)$", Path(f"/proc/{pid}/io").read_text(), re.MULTILINE)
        written[pid] = int(match.group(1)) if match else 0
    return written


def wait_healthy(base_url: str, server: ServerProcess, timeout: float = READY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.returncode is not None:
            raise RuntimeError(f"the server exited before it was ready:\n{server.describe()}")
        try:
            if httpx.get(f"{base_url}/v1/sys/health", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server did not answer in {timeout} s:\n{server.describe()}")
        time.sleep(0.1)


def _with_address(args: Sequence[str], port: int) -> list[str]:
    address = f"127.0.0.1:{port}"
    out = [a.replace("{address}", address).replace("{port}", str(port)) for a in args]
    dev = any(a in ("--dev", "-dev") for a in out)
    if dev and not any("dev-listen-address" in a for a in out):
        out += ["--dev-listen-address", address]
    return out


@contextlib.contextmanager
def running_server(
    args: Sequence[str],
    env: Mapping[str, str] | None = None,
    *,
    port: int | None = None,
    ready_timeout: float = READY_TIMEOUT,
    log_dir: Path | None = None,
    umask: int = -1,
    cwd: Path | None = None,
) -> Iterator[tuple[str, ServerProcess]]:
    """Start `wardgate server ARGS`, wait for sys/health, yield (base_url, process); on exit
    stop it (SIGTERM, then SIGKILL) and keep its output readable on the process object.
    Output files go to `log_dir` (give pytest's tmp_path; default: a new temporary folder);
    `cwd` is the server's working directory (where relative paths in its config land)."""
    port = port or free_port()
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix="wardgate-server-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    server = ServerProcess(
        _with_address(args, port), env or os.environ, log_dir, umask=umask, cwd=cwd
    )
    try:
        base_url = f"http://127.0.0.1:{port}"
        wait_healthy(base_url, server, ready_timeout)
        yield base_url, server
    finally:
        server.stop()


def write_server_config(
    directory: Path,
    *,
    port: int,
    http: str = "granian",
    workers: int | str = 1,
    server: str = "",
    extra: str = "",
    database: Path | None = None,
) -> Path:
    """A config file for `wardgate server --config`: SQLite in `directory` unless `database`
    says otherwise, `server` lines added to [server], `extra` appended (more tables)."""
    config = directory / "wardgate.toml"
    workers_value = f'"{workers}"' if isinstance(workers, str) else str(workers)
    config.write_text(
        f"""
[server]
address = "127.0.0.1:{port}"
http = "{http}"
workers = {workers_value}
{server}

[storage]
path = "{database or directory / "wardgate.db"}"
synchronous = "normal"
{extra}
"""
    )
    return config


def read_until_closed(sock: socket.socket, timeout: float = 30.0) -> tuple[bytes, bool]:
    """What the server sends on `sock` until it closes the connection, and whether it did
    (False: `timeout` passed with the connection still open)."""
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except TimeoutError:
        return data, False
    except ConnectionResetError:
        pass
    return data, True
