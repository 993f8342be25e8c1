"""README "Quick start", run as written: `config.example.toml` starts a real server (in a
temporary working directory, so `./data/` lands there, on a free port), the root token is
printed once on stderr, and the README's curl (real `curl` through bash) and hvac blocks work
against it."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import httpx

from tests.support.server import client_env, free_port, running_server

from .readme import ROOT, cli_env, require_tools, run_example, section_blocks, substitute

SECTION = "Quick start"
README_ADDR = "http://127.0.0.1:8200"
README_TOKEN = "s.Xq3..."


def example_config(directory: Path, port: int) -> Path:
    """config.example.toml, unchanged but for the port (8200 may be taken on a test machine)."""
    text = (ROOT / "config.example.toml").read_text()
    config = directory / "config.example.toml"
    config.write_text(
        substitute(text, {'address = "127.0.0.1:8200"': f'address = "127.0.0.1:{port}"'})
    )
    return config


def test_make_run_and_make_dev_start_what_the_readme_says() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(
        r"^run:.*\n\t\$\(BIN\)/wardgate server --config config\.example\.toml$", makefile, re.M
    )
    assert re.search(r"^dev:.*\n\t\$\(BIN\)/wardgate server --dev\b", makefile, re.M)


def run_curl_block(base_url: str, token: str, cwd: Path) -> list[tuple[int, object]]:
    """The README's curl block through bash and the real curl; each call's (status, JSON body)."""
    (block,) = [b for b in section_blocks(SECTION, "sh") if "curl" in b.text]
    script = substitute(block.text, {README_ADDR: base_url, README_TOKEN: token})
    # Only adds the status after each body; the calls themselves are the README's.
    wrapper = "set -euo pipefail\ncurl() { command curl -w '\\nHTTP %{http_code}\\n' \"$@\"; }\n"
    out = run_example(["bash", "-c", wrapper + script], block, client_env(cwd), cwd)
    answers = []
    for body, status in re.findall(r"(.*?)\nHTTP (\d{3})\n", out, re.S):
        answers.append((int(status), json.loads(body)))
    assert len(answers) == script.count("curl -s"), out
    return answers


def run_hvac_block(base_url: str, token: str, cwd: Path) -> list[str]:
    (block,) = section_blocks(SECTION, "python")
    script = substitute(block.text, {README_ADDR: base_url, README_TOKEN: token})
    return run_example([sys.executable, "-c", script], block, client_env(cwd), cwd).splitlines()


def test_quick_start_with_config_example(tmp_path: Path) -> None:
    require_tools("curl")
    port = free_port()
    config = example_config(tmp_path, port)
    env = client_env(tmp_path)
    (printed,) = [b for b in section_blocks(SECTION, "") if "Root token" in b.text]
    shown_as = printed.text.strip().removesuffix("...")  # "Root token: s.Xq3"

    with running_server(
        ["--config", str(config)], env, port=port, log_dir=tmp_path / "first", cwd=tmp_path
    ) as (base_url, server):
        tokens = re.findall(r"^Root token: (\S+)$", server.stderr(), re.M)
        assert len(tokens) == 1, server.describe()
        (token,) = tokens
        assert f"Root token: {token}".startswith(shown_as[: len("Root token: s.")])
        assert token not in server.stdout()
        # "SQLite storage in ./data/"
        assert (tmp_path / "data" / "wardgate.db").is_file()

        answers = run_curl_block(base_url, token, tmp_path)
        assert [status for status, _ in answers] == [200, 200, 200]
        health, lookup, accessors = (body for _, body in answers)
        assert isinstance(health, dict) and health["initialized"] is True
        assert isinstance(lookup, dict) and lookup["data"]["policies"] == ["root"]
        assert isinstance(accessors, dict) and len(accessors["data"]["keys"]) == 1

        policies, methods = run_hvac_block(base_url, token, tmp_path)
        assert policies == "['root']"
        # config.example.toml's [[auth]] block, beside the token store
        assert "'alicloud/'" in methods and "'token/'" in methods

    # "later starts never print it again", and the token printed the first time still works.
    with running_server(
        ["--config", str(config)], env, port=port, log_dir=tmp_path / "second", cwd=tmp_path
    ) as (base_url, server):
        assert "Root token" not in server.stderr() + server.stdout(), server.describe()
        answer = httpx.get(
            f"{base_url}/v1/auth/token/lookup-self", headers={"X-Vault-Token": token}
        )
        assert answer.status_code == 200

        # "Recovering the root token", beside the running server, on the same config file.
        (block,) = section_blocks("Recovering the root token", "sh")
        script = substitute(block.text, {"/etc/wardgate/wardgate.toml": str(config)})
        out = run_example(["bash", "-c", script], block, cli_env(tmp_path), tmp_path)
        (new_token,) = re.findall(r"^Root token: (\S+)$", out, re.M)
        assert new_token != token
        answer = httpx.get(
            f"{base_url}/v1/auth/token/lookup-self", headers={"X-Vault-Token": new_token}
        )
        assert answer.status_code == 200 and answer.json()["data"]["policies"] == ["root"]
