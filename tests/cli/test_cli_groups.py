"""The Vault-CLI command groups (`policy`, `auth`, `token capabilities`, `token create -role`,
`version`, `path-help`, `write -f`, `-format=yaml`) and `-h` on every command, run as
subprocesses against a real dev server."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from core.cli import client_commands
from core.cli.command import Command, Group
from tests.support.server import wardgate_command

from .conftest import ROOT_TOKEN, Cli, DevServer
from .test_client_cli import as_json, new_token, ok


def fails(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stderr


# -- version -----------------------------------------------------------------------------------


def test_version_command_and_flags(cli: Cli) -> None:
    line = ok(cli("version")).strip()
    assert line.startswith("wardgate v") and line[len("wardgate v") :][0].isdigit()
    assert ok(cli("--version")).strip() == line
    assert ok(cli("-version")).strip() == line


# -- -h everywhere -----------------------------------------------------------------------------


def _all_commands() -> list[Command]:
    found: list[Command] = []
    for entry in client_commands().values():
        found += list(entry.commands.values()) if isinstance(entry, Group) else [entry]
    return found


@pytest.mark.parametrize("command", _all_commands(), ids=lambda c: c.name)
def test_every_command_has_h_listing_its_flags(cli: Cli, command: Command) -> None:
    out = ok(cli(*command.name.split(), "-h"))
    assert out.startswith(f"Usage: wardgate {command.name}")
    for flag in command.flags:
        assert f"-{flag.name}" in out, flag.name
        assert flag.help in out
    if command.arguments:
        assert command.arguments in out


def test_login_h_lists_the_alicloud_arguments_from_the_plugin(cli: Cli) -> None:
    out = ok(cli("login", "-h"))
    assert "alicloud:" in out
    for name in ("role", "region", "access_key", "secret_key", "security_token", "role_name"):
        assert f"    {name} " in out, name
    assert "-print-payload" in out and "-method=TYPE" in out


def test_help_into_a_closed_pipe_is_quiet() -> None:
    """`wardgate login -h | head -0`: the reader is gone before the help is written."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            [*wardgate_command(), "login", "-h"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert result.returncode == 1
    assert result.stderr == ""


def test_group_and_top_level_help(cli: Cli) -> None:
    top = ok(cli("-h"))
    for name in ("server", "operator", "policy", "auth", "path-help", "version", "sts-emulator"):
        assert f"  {name} " in top, name
    assert "policy write" in ok(cli("policy", "-h"))
    assert "auth tune" in ok(cli("auth", "--help"))
    fails(cli("policy"), 1)
    fails(cli("auth", "frobnicate"), 1)
    fails(cli("frobnicate"), 1)


# -- policy ------------------------------------------------------------------------------------

READER = 'path "auth/alicloud/role/*" {\n  capabilities = ["read", "list"]\n}\n'


def test_policy_write_read_list_delete(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "reader.hcl").write_text(READER)
    assert ok(cli("policy", "write", "cli-reader", "reader.hcl")).strip() == (
        "Success! Uploaded policy: cli-reader"
    )
    assert ok(cli("policy", "read", "cli-reader")) == READER
    read = as_json(cli("policy", "read", "-format=json", "cli-reader"))
    assert read["policy"] == READER and read["name"] == "cli-reader"
    names = ok(cli("policy", "list")).split()
    assert "cli-reader" in names and "default" in names
    assert "cli-reader" in as_json(cli("policy", "list", "-format=json"))
    # from stdin, replacing it
    ok(cli("policy", "write", "cli-reader", "-", input=READER.replace('"list"', '"update"')))
    assert '"update"' in ok(cli("policy", "read", "cli-reader"))
    assert ok(cli("policy", "delete", "cli-reader")).strip() == (
        "Success! Deleted policy: cli-reader"
    )
    assert "No policy named: cli-reader" in fails(cli("policy", "read", "cli-reader"), 2)


def test_policy_errors(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "bad.hcl").write_text('path "x" { capabilities = ["fly"] }')
    err = fails(cli("policy", "write", "bad", "bad.hcl"), 2)
    assert "400" in err and "fly" in err
    fails(cli("policy", "write", "nofile", "missing.hcl"), 1)
    fails(cli("policy", "write", "onlyname"), 1)
    assert "403" in fails(cli("policy", "list", token="s.not-a-token"), 2)


# -- auth --------------------------------------------------------------------------------------


def test_auth_enable_list_tune_disable(cli: Cli) -> None:
    out = ok(
        cli(
            "auth",
            "enable",
            "-path=team/ali",
            "-description=first",
            "-default-lease-ttl=1h",
            "-max-lease-ttl=2h",
            "alicloud",
        )
    )
    assert out.strip() == "Success! Enabled alicloud auth method at: team/ali/"
    mounts = as_json(cli("auth", "list", "-format=json"))
    assert mounts["team/ali/"]["type"] == "alicloud"
    assert mounts["team/ali/"]["description"] == "first"
    assert mounts["team/ali/"]["config"]["default_lease_ttl"] == 3600

    table = ok(cli("auth", "list", "-detailed")).splitlines()
    assert table[0].split()[:4] == ["Path", "Type", "Accessor", "Description"]
    row = next(line for line in table if line.startswith("team/ali/"))
    assert row.split()[1] == "alicloud" and "first" in row and "1h" in row and "2h" in row
    assert any(line.startswith("token/") for line in table)

    tuned = ok(cli("auth", "tune", "-description=second", "team/ali"))
    assert tuned.strip() == "Success! Tuned the auth method at: team/ali/"
    tune = as_json(cli("read", "-format=json", "sys/auth/team/ali/tune"))["data"]
    assert tune["description"] == "second"
    assert tune["default_lease_ttl"] == 3600 and tune["max_lease_ttl"] == 7200  # unchanged
    ok(cli("auth", "tune", "-max-lease-ttl=3h", "auth/team/ali/"))
    assert (
        as_json(cli("read", "-format=json", "sys/auth/team/ali/tune"))["data"]["max_lease_ttl"]
        == 10800
    )
    fails(cli("auth", "tune", "team/ali"), 1)  # nothing to tune

    out = ok(cli("auth", "disable", "team/ali"))
    assert out.strip() == "Success! Disabled the auth method (if it existed) at: team/ali/"
    assert "team/ali/" not in as_json(cli("auth", "list", "-format=json"))
    assert "400" in fails(cli("auth", "enable", "no-such-type"), 2)


# -- token capabilities and roles --------------------------------------------------------------


def test_token_capabilities(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "caps.hcl").write_text(READER)
    ok(cli("policy", "write", "caps", "caps.hcl"))
    auth = new_token(cli, "-policy=caps")
    path = "auth/alicloud/role/web"
    assert ok(cli("token", "capabilities", path)).strip() == "root"
    assert ok(cli("token", "capabilities", auth["client_token"], path)).strip() == "list, read"
    assert ok(cli("token", "capabilities", "-accessor", auth["accessor"], path)).strip() == (
        "list, read"
    )
    own = cli("token", "capabilities", "-format=json", "sys/auth", token=auth["client_token"])
    assert json.loads(ok(own)) == ["deny"]
    fails(cli("token", "capabilities"), 1)


def test_token_create_with_a_role(cli: Cli) -> None:
    ok(cli("write", "auth/token/roles/ci", "allowed_policies=ci-deploy", "orphan=true"))
    auth = new_token(cli, "-role=ci", "-policy=ci-deploy")
    assert auth["orphan"] is True
    assert "ci-deploy" in auth["policies"]
    looked_up = as_json(cli("token", "lookup", "-format=json", auth["client_token"]))
    assert looked_up["data"]["role"] == "ci"
    err = fails(cli("token", "create", "-role=ci", "-policy=admin"), 2)
    assert "400" in err
    assert "unknown role nope" in fails(cli("token", "create", "-role=nope"), 2)
    fails(cli("token", "create", "-role=ci", "-orphan"), 1)


# -- write -f, -field, yaml, exit codes ----------------------------------------------------------


def test_write_needs_data_or_force(cli: Cli) -> None:
    assert "must supply data or use -force" in fails(cli("write", "auth/token/create"), 1)
    created = as_json(cli("write", "-f", "-format=json", "auth/token/create"))
    assert created["auth"]["client_token"].startswith("s.")
    token = ok(cli("write", "-force", "-field=token", "auth/token/create")).strip()
    assert token.startswith("s.")


def test_yaml_output(cli: Cli, dev_server: DevServer) -> None:
    body = yaml.safe_load(ok(cli("token", "lookup", "-format=yaml")))
    assert body["data"]["policies"] == ["root"]
    assert yaml.safe_load(ok(cli("list", "-format=yaml", "sys/policies/acl")))[-1] == "root"
    mounts = yaml.safe_load(ok(cli("auth", "list", "-format=yaml")))
    assert mounts["token/"]["type"] == "token"
    env = {"WARDGATE_ADDR": dev_server.url, "WARDGATE_TOKEN": ROOT_TOKEN, "VAULT_FORMAT": "yaml"}
    assert "token/" in yaml.safe_load(ok(cli("read", "sys/auth", env=env)))["data"]


def test_exit_codes(cli: Cli) -> None:
    fails(cli("read"), 1)  # usage
    fails(cli("read", "-format=xml", "sys/auth"), 1)
    fails(cli("read", "-address=ftp://x", "sys/auth"), 1)
    fails(cli("read", "sys/auth", token="s.nope"), 2)  # the server said no
    fails(cli("read", "-address=http://127.0.0.1:9", "sys/auth"), 2)  # the network said no


# -- AliCloud login without credentials, the emulator's demo credentials ------------------------


def test_login_without_credentials_is_one_line(cli: Cli, dev_server: DevServer) -> None:
    # Every provider of the default chain fails (ECS metadata included: not on ECS here). The
    # credentials library logs each failure with a traceback; the user sees one line.
    env = {"WARDGATE_ADDR": dev_server.url}
    failed = cli("login", "-method=alicloud", "role=demo", "region=cn-hangzhou", env=env)
    assert failed.returncode == 1
    assert "Traceback" not in failed.stderr
    lines = [line for line in failed.stderr.splitlines() if line.strip()]
    assert lines[0].startswith("wardgate login: login -method=alicloud: no Alibaba Cloud")
    assert "default chain" in lines[0] and "Environment" in lines[0]
    assert len(lines) == 2 and lines[1].startswith("Usage: wardgate login")


def test_sts_emulator_prints_its_demo_credentials(cli: Cli, dev_server: DevServer) -> None:
    out = ok(cli("sts-emulator", "--print-credentials"))
    blocks = out.strip().split("\n# ")
    assert len(blocks) == 2 and "assumed-role/demo" in blocks[0]
    login_args = blocks[0].splitlines()[1].split()
    assert [a.split("=", 1)[0] for a in login_args] == [
        "access_key",
        "secret_key",
        "security_token",
    ]
    # They are the keys the dev server's emulator knows: a login with them works.
    ok(cli("write", "auth/alicloud/role/demo", "arn=acs:ram::1234567890123456:role/demo"))
    env = {"WARDGATE_ADDR": dev_server.url}
    login = cli(
        "login",
        "-method=alicloud",
        "-no-store",
        "role=demo",
        "region=cn-hangzhou",
        *login_args,
        env=env,
    )
    assert "Success!" in ok(login)


def test_path_help(cli: Cli) -> None:
    out = ok(cli("path-help", "auth/alicloud/role/web"))
    assert "Create, read, update or delete a role." in out and "arn" in out
    body = json.loads(ok(cli("path-help", "-format=json", "auth/token/create")))
    assert "Create a token" in body["help"]
    assert "auth/nothing-here/x" in fails(cli("path-help", "auth/nothing-here/x"), 2)
