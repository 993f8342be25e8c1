"""One real dev server (a subprocess) for the CLI tests of this folder, and a `cli` runner."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.server import ServerProcess, client_env, running_server, wardgate_command

ROOT_TOKEN = "root-test"


@dataclass(frozen=True)
class DevServer:
    url: str
    home: Path
    process: ServerProcess


Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    home = tmp_path_factory.mktemp("home")
    args = ["--dev", "--dev-root-token-id", ROOT_TOKEN]
    with running_server(args, client_env(home), log_dir=home / "logs") as (url, process):
        yield DevServer(url, home, process)


@pytest.fixture
def cli(dev_server: DevServer, tmp_path: Path) -> Cli:
    """Run `wardgate ARGS` against the dev server with HOME=tmp_path. `token=None` leaves
    WARDGATE_TOKEN unset; `env` replaces WARDGATE_ADDR/WARDGATE_TOKEN entirely."""

    def run(
        *args: str,
        token: str | None = ROOT_TOKEN,
        env: dict[str, str] | None = None,
        input: str | None = None,
        cwd: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        if env is None:
            env = {"WARDGATE_ADDR": dev_server.url}
            if token is not None:
                env["WARDGATE_TOKEN"] = token
        return subprocess.run(
            [*wardgate_command(), *args],
            env=client_env(tmp_path, **env),
            input=input if input is not None else "",
            capture_output=True,
            text=True,
            timeout=30,
            cwd=cwd or tmp_path,
        )

    return run
