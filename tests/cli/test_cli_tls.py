"""TLS verification of the client commands against a real HTTPS server: refused without the
CA, accepted with WARDGATE_CACERT / VAULT_CACERT / -ca-cert, or skipped with
WARDGATE_SKIP_VERIFY / VAULT_SKIP_VERIFY / -tls-skip-verify."""

from __future__ import annotations

import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import trustme
from support.server import ServerProcess, client_env, free_port, wardgate_command


@dataclass(frozen=True)
class TlsServer:
    url: str
    ca_file: Path


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsServer]:
    folder = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_and_cert_chain_pem.write_to_path(str(folder / "server.pem"))
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    port = free_port()
    config = folder / "wardgate.toml"
    config.write_text(
        f'[server]\naddress = "127.0.0.1:{port}"\n'
        f'tls_cert_file = "{folder / "server.pem"}"\ntls_key_file = "{folder / "server.pem"}"\n'
        '[storage]\nbackend = "memory"\n'
    )
    server = ServerProcess(["--config", str(config)], client_env(folder), folder)
    url = f"https://127.0.0.1:{port}"
    try:
        _wait_healthy(url, server, ssl.create_default_context(cafile=str(folder / "ca.pem")))
        yield TlsServer(url, folder / "ca.pem")
    finally:
        server.stop()


def _wait_healthy(url: str, server: ServerProcess, context: ssl.SSLContext) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.returncode is not None:
            break
        try:
            if httpx.get(f"{url}/v1/sys/health", verify=context).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"the TLS server did not start:\n{server.describe()}")


def status(
    server: TlsServer, tmp_path: Path, *flags: str, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*wardgate_command(), "status", *flags],
        env=client_env(tmp_path, WARDGATE_ADDR=server.url, **env),
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_unknown_ca_is_refused(tls_server: TlsServer, tmp_path: Path) -> None:
    result = status(tls_server, tmp_path)
    assert result.returncode == 2
    assert "CERTIFICATE_VERIFY_FAILED" in result.stderr or "certificate" in result.stderr


@pytest.mark.parametrize(
    "env",
    [
        {"WARDGATE_SKIP_VERIFY": "true"},
        {"VAULT_SKIP_VERIFY": "1"},
        {"WARDGATE_CACERT": "{ca}"},
        {"VAULT_CACERT": "{ca}"},
    ],
    ids=lambda e: next(iter(e)),
)
def test_environment_settings(tls_server: TlsServer, tmp_path: Path, env: dict[str, str]) -> None:
    given = {k: v.replace("{ca}", str(tls_server.ca_file)) for k, v in env.items()}
    result = status(tls_server, tmp_path, **given)
    assert result.returncode == 0, result.stderr
    assert "initialized" in result.stdout


def test_flags_and_their_precedence(tls_server: TlsServer, tmp_path: Path) -> None:
    assert status(tls_server, tmp_path, "-tls-skip-verify").returncode == 0
    assert status(tls_server, tmp_path, f"-ca-cert={tls_server.ca_file}").returncode == 0
    # The flag wins over the environment.
    refused = status(tls_server, tmp_path, "-tls-skip-verify=false", WARDGATE_SKIP_VERIFY="1")
    assert refused.returncode == 2
    bad = status(tls_server, tmp_path, WARDGATE_SKIP_VERIFY="perhaps")
    assert bad.returncode == 1 and "WARDGATE_SKIP_VERIFY" in bad.stderr
