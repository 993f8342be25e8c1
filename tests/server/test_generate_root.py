"""`wardgate operator generate-root --config FILE`: the way back from a lost or revoked root
token, run beside a live server on the same SQLite database."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import httpx

from tests.support.server import (
    client_env,
    free_port,
    running_server,
    wardgate_command,
    write_server_config,
)

ROOT_LINE = re.compile(r"^Root token: (\S+)$", re.MULTILINE)


def generate_root(config: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*wardgate_command(), "operator", "generate-root", "--config", str(config)],
        cwd=cwd,
        env=client_env(cwd),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_revoked_root_token_is_recovered_while_the_server_runs(tmp_path: Path) -> None:
    port = free_port()
    config = write_server_config(tmp_path, port=port, workers=2)
    env = client_env(tmp_path)
    with running_server(["--config", str(config)], env, port=port, log_dir=tmp_path) as (
        url,
        server,
    ):
        (first,) = ROOT_LINE.findall(server.stderr())
        with httpx.Client(timeout=20) as client:
            revoked = client.post(
                f"{url}/v1/auth/token/revoke-self", headers={"X-Vault-Token": first}
            )
            assert revoked.status_code == 204
            assert (
                client.get(
                    f"{url}/v1/auth/token/lookup-self", headers={"X-Vault-Token": first}
                ).status_code
                == 403
            )

            result = generate_root(config, tmp_path)
            assert result.returncode == 0, result.stderr
            assert "Traceback" not in result.stderr
            (token,) = ROOT_LINE.findall(result.stdout)
            assert token != first
            # The running server (both workers, on fresh connections) takes it at once.
            for _ in range(4):
                with httpx.Client(timeout=20) as fresh:
                    me = fresh.get(
                        f"{url}/v1/auth/token/lookup-self", headers={"X-Vault-Token": token}
                    )
                    assert me.status_code == 200, me.text
                    assert me.json()["data"]["policies"] == ["root"]
            # It is a full root token: it can create another.
            created = client.post(
                f"{url}/v1/auth/token/create",
                json={"policies": ["root"]},
                headers={"X-Vault-Token": token},
            )
            assert created.status_code == 200, created.text
    # The server never printed another root token.
    assert len(ROOT_LINE.findall(server.stderr())) == 1


def test_generate_root_needs_an_initialised_database(tmp_path: Path) -> None:
    config = write_server_config(tmp_path, port=free_port())
    result = generate_root(config, tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "wardgate: cannot generate a root token: no database yet: start the server first "
        f"({tmp_path / 'wardgate.db'})"
    ]
    assert not (tmp_path / "wardgate.db").exists()


def test_generate_root_is_audited_without_the_token(tmp_path: Path) -> None:
    audit_log = tmp_path / "audit.log"
    port = free_port()
    config = write_server_config(
        tmp_path,
        port=port,
        extra=(
            f'[[audit]]\npath = "file"\ntype = "file"\noptions = {{ file_path = "{audit_log}" }}\n'
        ),
    )
    env = client_env(tmp_path)
    with running_server(["--config", str(config)], env, port=port, log_dir=tmp_path):
        pass  # the first start initialises the storage
    result = generate_root(config, tmp_path)
    assert result.returncode == 0, result.stderr
    (token,) = ROOT_LINE.findall(result.stdout)
    text = audit_log.read_text()
    entries = [line for line in text.splitlines() if "sys/generate-root/update" in line]
    assert len(entries) == 2, text  # the request and the response
    assert token not in text
