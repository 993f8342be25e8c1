"""The agent's config file: Vault Agent HCL and TOML of the same structure, every key checked
(an unknown or unsupported one is a one-line error naming it, exit 1)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from support.server import client_env, wardgate_command

from core.agent.config import AgentConfigError, load_agent_config

BASE = """
vault {{ address = "http://127.0.0.1:1" }}
auto_auth {{
  method "alicloud" {{
    config = {{ role = "app", region = "cn-hangzhou" {extra} }}
  }}
  sink "file" {{ config = {{ path = "{folder}/token" }} }}
}}
"""


def run_agent(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*wardgate_command(), "agent", "-config", str(config)],
        env=client_env(config.parent),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_vault_agent_forms(tmp_path: Path) -> None:
    path = tmp_path / "agent.hcl"
    path.write_text(f"""
pid_file = "{tmp_path}/pid"
exit_after_auth = true
vault {{
  address = "https://wardgate.example:8200/"
  ca_cert = "/etc/ca.pem"
  tls_skip_verify = false
}}
auto_auth {{
  method {{
    type = "alicloud"
    mount_path = "auth/ali/"
    min_backoff = "2s"
    max_backoff = 60
    exit_on_err = true
    config {{
      role = "app"
      region = "cn-hangzhou"
      credential_poll_interval = 30
    }}
  }}
  sinks {{
    sink "file" {{ config = {{ path = "{tmp_path}/a", mode = 0600 }} }}
  }}
  sink "file" {{ config = {{ path = "{tmp_path}/b", mode = 416 }} }}
}}
""")
    config = load_agent_config(path)
    assert config.server.address == "https://wardgate.example:8200"
    assert config.method.type == "alicloud" and config.method.mount_path == "auth/ali"
    assert (config.method.min_backoff, config.method.max_backoff) == (2, 60)
    assert config.method.exit_on_err and config.exit_after_auth
    assert config.method.config == {
        "role": "app",
        "region": "cn-hangzhou",
        "credential_poll_interval": "30",
    }
    assert sorted((s.path.name, s.mode) for s in config.sinks) == [("a", 0o600), ("b", 0o640)]


def test_toml_has_the_same_structure(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(
        '[vault]\naddress = "http://127.0.0.1:8200"\n'
        '[auto_auth.method.alicloud]\nmount_path = "auth/alicloud"\n'
        '[auto_auth.method.alicloud.config]\nrole = "app"\nregion = "cn-hangzhou"\n'
        f'[[auto_auth.sink.file]]\nconfig = {{ path = "{tmp_path}/t", mode = 0o600 }}\n'
    )
    config = load_agent_config(path)
    assert config.method.config["role"] == "app"
    assert config.sinks[0].mode == 0o600


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (', bogus = "x"', 'auto_auth.method "alicloud".config.bogus'),
        (', private_key = "k"', 'auto_auth.method "alicloud".config.private_key'),
    ],
)
def test_unknown_method_keys_stop_the_agent(tmp_path: Path, extra: str, named: str) -> None:
    path = tmp_path / "agent.hcl"
    path.write_text(BASE.format(folder=tmp_path, extra=extra))
    result = run_agent(path)
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0, result.stderr  # one line
    assert "unknown or unsupported key" in result.stderr and named in result.stderr


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('template { source = "x" }\n', "template"),
        ("cache { use_auto_auth_token = true }\n", "cache"),
        ("vault { retry { num_retries = 2 } }\n", "vault.retry"),
    ],
)
def test_unsupported_top_level_keys(tmp_path: Path, text: str, named: str) -> None:
    path = tmp_path / "agent.hcl"
    path.write_text(
        BASE.format(folder=tmp_path, extra="").replace(
            'vault { address = "http://127.0.0.1:1" }\n', ""
        )
        + text
    )
    with pytest.raises(AgentConfigError, match=f"unsupported key {named}"):
        load_agent_config(path)


def test_other_config_errors(tmp_path: Path) -> None:
    path = tmp_path / "agent.hcl"
    for text, message in [
        (
            'auto_auth { method "alicloud" { config = {} } sink "kafka" { config = {} } }',
            'only sink "file"',
        ),
        (
            'auto_auth { method "alicloud" { min_backoff = "5m" max_backoff = "1m" '
            f'config = {{}} }} sink "file" {{ config = {{ path = "{tmp_path}/t" }} }} }}',
            "min_backoff",
        ),
        (
            f'auto_auth {{ method "alicloud" {{ config = {{}} }} sink "file" {{ config = {{ '
            f'path = "{tmp_path}/t", mode = 0044 }} }} }}',
            "mode",
        ),
        ('pid_file = "x"', "auto_auth is required"),
        ("auto_auth {", "cannot parse"),
    ]:
        path.write_text(text)
        with pytest.raises(AgentConfigError, match=message):
            load_agent_config(path)


def test_unwritable_sink_and_unknown_method_are_one_line(tmp_path: Path) -> None:
    path = tmp_path / "agent.hcl"
    path.write_text(BASE.format(folder=tmp_path / "missing-dir", extra=""))
    result = run_agent(path)
    assert result.returncode == 1 and "not writable" in result.stderr
    assert "Traceback" not in result.stderr
    path.write_text(BASE.format(folder=tmp_path, extra="").replace('"alicloud"', '"gcp"'))
    result = run_agent(path)
    assert result.returncode == 1 and "no login helper" in result.stderr


def test_agent_h_lists_its_flags(tmp_path: Path) -> None:
    result = subprocess.run(
        [*wardgate_command(), "agent", "-h"],
        env=client_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and "-config" in result.stdout and "SIGHUP" in result.stdout
