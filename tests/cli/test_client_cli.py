"""The `wardgate` client commands, run as a user runs them: subprocesses against a real dev
server (Hypercorn on a loopback port), asserting on stdout, stderr and exit codes."""

from __future__ import annotations

import json
import shlex
import stat
import subprocess
from pathlib import Path
from typing import Any

from support.server import free_port

from .conftest import ROOT_TOKEN, Cli, DevServer


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(ok(result))


def new_token(cli: Cli, *flags: str) -> dict[str, Any]:
    auth: dict[str, Any] = as_json(cli("token", "create", "-format=json", *flags))["auth"]
    return auth


# -- status ------------------------------------------------------------------------------------


def test_status_table_and_json(cli: Cli) -> None:
    out = ok(cli("status"))
    lines = out.splitlines()
    assert lines[0].split() == ["Key", "Value"]
    assert lines[1].split() == ["---", "-----"]
    assert any(line.split() == ["sealed", "false"] for line in lines)
    body = as_json(cli("status", "-format=json"))
    assert body["initialized"] is True and body["sealed"] is False


def test_status_needs_no_token(cli: Cli) -> None:
    ok(cli("status", token=None))


# -- tokens ------------------------------------------------------------------------------------


def test_token_create_json_then_lookup(cli: Cli) -> None:
    auth = new_token(
        cli,
        "-policy=reader",
        "--policy",
        "writer",
        "-ttl=1h",
        "-metadata=team=blue",
        "-display-name=ci",
    )
    token = auth["client_token"]
    assert token.startswith("s.")
    assert auth["lease_duration"] == 3600
    assert set(auth["policies"]) == {"default", "reader", "writer"}

    data = as_json(cli("token", "lookup", token, "-format=json"))["data"]
    assert data["id"] == token
    assert data["accessor"] == auth["accessor"]
    assert data["meta"] == {"team": "blue"}
    assert data["display_name"] == "token-ci"

    table = ok(cli("token", "lookup", token))
    rows = dict(line.split(None, 1) for line in table.splitlines()[2:])
    assert rows["policies"].strip() == "[default reader writer]"
    assert rows["creation_ttl"].strip() == "1h"  # durations shown as Vault does

    by_accessor = as_json(cli("token", "lookup", "-accessor", auth["accessor"], "-format=json"))
    assert by_accessor["data"]["accessor"] == auth["accessor"]
    assert by_accessor["data"]["id"] == ""  # never shown by accessor


def test_token_create_table_shows_the_auth_block(cli: Cli) -> None:
    out = ok(cli("token", "create", "-policy=p1", "-ttl=90m", "-metadata=a=b"))
    rows = dict(line.split(None, 1) for line in out.splitlines()[2:])
    assert rows["token"].startswith("s.")
    assert rows["token_duration"].strip() == "1h30m"
    assert rows["token_policies"].strip() == '["default" "p1"]'
    assert rows["token_meta_a"].strip() == "b"


def test_token_create_options(cli: Cli) -> None:
    orphan = new_token(
        cli,
        "-orphan",
        "-num-uses=3",
        "-no-default-policy",
        "-policy=x",
        "-period=2h",
        "-explicit-max-ttl=10h",
    )
    assert orphan["orphan"] is True
    assert orphan["num_uses"] == 3
    assert orphan["policies"] == ["x"]
    assert orphan["lease_duration"] == 7200
    batch = new_token(cli, "-type=batch", "-ttl=10m")
    assert batch["token_type"] == "batch"


def test_token_lookup_self_and_field(cli: Cli) -> None:
    assert ok(cli("token", "lookup", "-field=id")).strip() == ROOT_TOKEN
    assert json.loads(ok(cli("token", "lookup", "-field=policies"))) == ["root"]
    token = ok(cli("token", "create", "-field=token", "-policy=p")).strip()
    assert token.startswith("s.") and "\n" not in token
    missing = cli("token", "lookup", "-field=nope")
    assert missing.returncode == 1
    assert 'Field "nope"' in missing.stderr


def test_token_renew(cli: Cli) -> None:
    token = new_token(cli, "-ttl=1h")["client_token"]
    renewed = as_json(cli("token", "renew", token, "-increment=2h", "-format=json"))
    assert renewed["auth"]["lease_duration"] == 7200
    assert renewed["auth"]["client_token"] == token
    # renew-self, with the token itself as the caller
    again = as_json(cli("token", "renew", "-increment=30m", "-format=json", token=token))
    assert again["auth"]["lease_duration"] == 1800


def test_token_revoke_then_lookup_fails(cli: Cli) -> None:
    token = new_token(cli, "-ttl=1h")["client_token"]
    ok(cli("token", "lookup", token))
    revoked = cli("token", "revoke", token)
    assert ok(revoked).strip() == "Success! Revoked token (if it existed)"

    looked_up = cli("token", "lookup", token)
    assert looked_up.returncode == 2
    assert "403" in looked_up.stderr
    assert looked_up.stderr.startswith("Error looking up auth/token/lookup: 403")
    assert token not in looked_up.stderr + looked_up.stdout

    as_caller = cli("token", "lookup", token=token)
    assert as_caller.returncode == 2
    assert "permission denied" in as_caller.stderr
    assert token not in as_caller.stderr + as_caller.stdout


def test_token_revoke_self_and_accessor(cli: Cli) -> None:
    first = new_token(cli, "-ttl=1h")
    ok(cli("token", "revoke", "-self", token=first["client_token"]))
    assert cli("token", "lookup", first["client_token"]).returncode == 2

    second = new_token(cli, "-ttl=1h")
    ok(cli("token", "revoke", "-accessor", second["accessor"]))
    assert cli("token", "lookup", second["client_token"]).returncode == 2


def test_token_revoke_orphan_keeps_children(cli: Cli) -> None:
    parent = new_token(cli, "-ttl=1h", "-policy=root")["client_token"]
    child = as_json(cli("token", "create", "-format=json", "-ttl=30m", token=parent))["auth"]
    ok(cli("token", "revoke", "-mode=orphan", parent))
    assert cli("token", "lookup", parent).returncode == 2
    assert as_json(cli("token", "lookup", child["client_token"], "-format=json"))["data"]["orphan"]


def test_token_usage_errors(cli: Cli) -> None:
    assert cli("token").returncode == 1
    assert cli("token", "frobnicate").returncode == 1
    assert cli("token", "revoke").returncode == 1  # neither TOKEN nor -self
    assert cli("token", "create", "-num-uses=many").returncode == 1
    assert cli("token", "create", "-bogus").returncode == 1
    helped = cli("token", "-h")
    assert helped.returncode == 0 and "token create" in helped.stdout


# -- read, write, list, delete -----------------------------------------------------------------


def test_read_write_list_delete_sys_auth(cli: Cli) -> None:
    written = cli("write", "sys/auth/cli-test/ali", "type=alicloud", "description=from the CLI")
    assert ok(written).strip() == "Success! Data written to: sys/auth/cli-test/ali"

    mounts = as_json(cli("read", "sys/auth", "-format=json"))
    assert mounts["data"]["cli-test/ali/"]["type"] == "alicloud"
    assert mounts["data"]["token/"]["type"] == "token"
    table = ok(cli("read", "sys/auth"))
    assert any(line.startswith("cli-test/ali/ ") for line in table.splitlines())

    # The /v1/ prefix and a leading slash are optional.
    for path in ("/v1/sys/auth/cli-test/ali", "v1/sys/auth/cli-test/ali", "/sys/auth/cli-test/ali"):
        assert ok(cli("read", path, "-field=type")).strip() == "alicloud"
    assert ok(cli("read", "sys/auth/cli-test/ali", "-field=description")).strip() == "from the CLI"

    deleted = cli("delete", "sys/auth/cli-test/ali")
    assert ok(deleted).strip() == "Success! Data deleted (if it existed) at: sys/auth/cli-test/ali"
    assert "cli-test/ali/" not in as_json(cli("read", "sys/auth", "-format=json"))["data"]

    gone = cli("read", "sys/auth/cli-test/ali")
    assert gone.returncode == 2
    assert gone.stderr.startswith("Error reading sys/auth/cli-test/ali: 400 ")


def test_write_error_message(cli: Cli) -> None:
    bad = cli("write", "sys/auth/nowhere", "type=no-such-plugin")
    assert bad.returncode == 2
    assert bad.stderr.strip() == (
        "Error writing sys/auth/nowhere: 400 plugin not found in the catalog: no-such-plugin"
    )


def test_write_values_from_files_stdin_and_repeated_keys(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "name.txt").write_text("from-file")
    result = cli(
        "write",
        "-format=json",
        "auth/token/create",
        "policies=a",
        "policies=b",
        "display_name=@name.txt",
        "ttl=-",
        input="45m",
    )
    auth = as_json(result)["auth"]
    assert set(auth["policies"]) == {"a", "b", "default"}
    assert auth["lease_duration"] == 45 * 60
    data = as_json(cli("token", "lookup", auth["client_token"], "-format=json"))["data"]
    assert data["display_name"] == "token-from-file"

    (tmp_path / "body.json").write_text(json.dumps({"policies": ["c"], "ttl": "5m"}))
    auth = as_json(cli("write", "auth/token/create", "@body.json", "-format=json"))["auth"]
    assert auth["lease_duration"] == 300
    auth = as_json(cli("write", "auth/token/create", "-", "-format=json", input='{"ttl": "6m"}'))[
        "auth"
    ]
    assert auth["lease_duration"] == 360


def test_write_field_of_an_auth_response(cli: Cli) -> None:
    token = ok(cli("write", "-field=token", "auth/token/create", "ttl=1h")).strip()
    assert token.startswith("s.")


def test_read_with_query_arguments(cli: Cli) -> None:
    token = new_token(cli, "-ttl=1h")["client_token"]
    looked_up = as_json(cli("read", "auth/token/lookup", f"token={token}", "-format=json"))
    assert looked_up["data"]["id"] == token


def test_list_accessors_uses_the_list_verb(cli: Cli) -> None:
    accessor = new_token(cli, "-ttl=1h")["accessor"]
    out = ok(cli("list", "auth/token/accessors"))
    lines = out.splitlines()
    assert lines[:2] == ["Keys", "----"]
    assert accessor in lines
    keys = as_json(cli("list", "auth/token/accessors/", "-format=json"))
    assert isinstance(keys, list) and accessor in keys


def test_list_and_read_of_nothing(cli: Cli) -> None:
    nothing = cli("read", "auth/token/lookup-accessor/none")
    assert nothing.returncode == 2
    unknown = cli("list", "auth/not-mounted")
    assert unknown.returncode == 2
    assert unknown.stderr.startswith("Error listing auth/not-mounted: 404")


def test_usage_errors_exit_1(cli: Cli) -> None:
    for args in (
        ("read",),
        ("write",),
        ("list",),
        ("list", "a", "b"),
        ("read", "-nope", "x"),
        ("read", "-format=xml", "sys/auth"),
        ("write", "p", "novalue"),
        ("status", "-ca-cert=/nonexistent/ca.pem"),
        ("status", "-tls-skip-verify=maybe"),
    ):
        result = cli(*args)
        assert result.returncode == 1, args
        assert "Usage: wardgate" in result.stderr, args
    helped = cli("read", "-h")
    assert helped.returncode == 0 and "Usage: wardgate read" in helped.stdout


# -- addresses and tokens from the environment -------------------------------------------------


def test_vault_env_fallback(cli: Cli, dev_server: DevServer) -> None:
    env = {"VAULT_ADDR": dev_server.url, "VAULT_TOKEN": ROOT_TOKEN}
    assert ok(cli("token", "lookup", "-field=id", env=env)).strip() == ROOT_TOKEN


def test_wardgate_env_wins_over_vault_env(cli: Cli, dev_server: DevServer) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    env = {
        "WARDGATE_ADDR": dev_server.url,
        "VAULT_ADDR": dead,
        "WARDGATE_TOKEN": ROOT_TOKEN,
        "VAULT_TOKEN": "s.wrong",
    }
    assert ok(cli("token", "lookup", "-field=id", env=env)).strip() == ROOT_TOKEN


def test_address_flag_wins(cli: Cli, dev_server: DevServer) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    env = {"WARDGATE_ADDR": dead, "WARDGATE_TOKEN": ROOT_TOKEN}
    assert ok(cli("status", f"-address={dev_server.url}", env=env))


def test_unreachable_address(cli: Cli) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    secret = "s.ShouldNeverBePrinted0000"
    for args in (("status",), ("read", "sys/auth"), ("token", "lookup")):
        result = cli(*args, env={"WARDGATE_ADDR": dead, "WARDGATE_TOKEN": secret})
        assert result.returncode == 2, args
        assert dead in result.stderr
        assert "cannot connect" in result.stderr
        assert "Traceback" not in result.stderr
        assert secret not in result.stderr + result.stdout


def test_address_without_scheme_is_a_usage_error(cli: Cli) -> None:
    result = cli("status", env={"WARDGATE_ADDR": "127.0.0.1:8200"})
    assert result.returncode == 1
    assert "http://" in result.stderr


# -- login -------------------------------------------------------------------------------------


def test_login_method_token_stores_the_token(cli: Cli, tmp_path: Path) -> None:
    token = new_token(cli, "-ttl=1h", "-policy=p")["client_token"]
    out = ok(cli("login", "-method=token", token, token=None))
    assert "Success! You are now authenticated" in out
    token_file = tmp_path / ".wardgate-token"
    assert token_file.read_text().strip() == token
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    # Later commands use the stored token.
    assert ok(cli("token", "lookup", "-field=id", token=None)).strip() == token
    # An environment token wins over the file.
    assert ok(cli("token", "lookup", "-field=id")).strip() == ROOT_TOKEN


def test_login_token_no_store_and_bad_token(cli: Cli, tmp_path: Path) -> None:
    token = new_token(cli, "-ttl=1h")["client_token"]
    out = as_json(cli("login", "-no-store", "-format=json", f"token={token}", token=None))
    assert out["auth"]["client_token"] == token
    assert not (tmp_path / ".wardgate-token").exists()

    bogus = "s.NotARealTokenAtAll000000"
    failed = cli("login", bogus, token=None)
    assert failed.returncode == 2
    assert "permission denied" in failed.stderr
    assert bogus not in failed.stderr + failed.stdout
    assert not (tmp_path / ".wardgate-token").exists()


def test_login_token_from_stdin(cli: Cli, tmp_path: Path) -> None:
    token = new_token(cli, "-ttl=1h")["client_token"]
    assert ok(cli("login", "-field=token", "-", token=None, input=token + "\n")).strip() == token
    assert (tmp_path / ".wardgate-token").read_text() == token


def test_login_print_payload_sends_nothing(cli: Cli) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    result = cli(
        "login",
        "-method=alicloud",
        "-print-payload",
        "role=dev",
        "region=cn-hangzhou",
        "access_key=LTAI5tExampleKey",
        "secret_key=example-secret",
        env={"WARDGATE_ADDR": dead},
    )
    body = json.loads(ok(result))
    assert body["role"] == "dev"
    assert "identity_request_url" in body or len(body) > 1


def test_login_argument_errors_exit_1(cli: Cli) -> None:
    assert cli("login", "-method=alicloud", "region=cn-hangzhou", token=None).returncode == 1
    assert cli("login", token=None).returncode == 1  # -method=token needs a TOKEN


def _banner_commands(dev_server: DevServer) -> dict[str, list[str]]:
    """The copy-paste commands the dev server prints for its AliCloud demo identity, by verb."""
    commands: dict[str, list[str]] = {}
    for line in dev_server.process.stderr().splitlines():
        words = shlex.split(line)
        if len(words) > 2 and words[0] == "wardgate" and words[1] in ("write", "login"):
            commands[words[1]] = words[2:]
    return commands


def test_login_alicloud_against_the_dev_emulator(
    cli: Cli, dev_server: DevServer, tmp_path: Path
) -> None:
    commands = _banner_commands(dev_server)
    assert set(commands) == {"write", "login"}, "the dev banner must show the AliCloud commands"
    ok(cli("write", *commands["write"]))  # the demo role

    payload = as_json(cli("login", "-print-payload", *commands["login"], token=None))
    assert set(payload) > {"role"}
    assert not (tmp_path / ".wardgate-token").exists()

    out = ok(cli("login", *commands["login"], token=None))
    assert "Success! You are now authenticated" in out
    stored = (tmp_path / ".wardgate-token").read_text().strip()
    rows = dict(line.split(None, 1) for line in out.splitlines() if line.startswith("token"))
    assert rows["token"].strip() == stored
    assert ok(cli("token", "lookup", "-field=id", token=None)).strip() == stored
    assert ok(cli("token", "lookup", "-field=path", token=None)).strip() == "auth/alicloud/login"

    # -path names the mount; a wrong one is an error that shows no secret.
    wrong = cli("login", "-path=elsewhere", *commands["login"], token=None)
    assert wrong.returncode == 2
    assert wrong.stderr.startswith("Error logging in at auth/elsewhere/login:")
    secret = next(a for a in commands["login"] if a.startswith("secret_key="))
    assert secret.split("=", 1)[1] not in wrong.stderr
    # `mount=` (Vault's CLI handler argument) names the mount too.
    via_arg = cli("login", *commands["login"], "mount=other", token=None)
    assert via_arg.returncode == 2
    assert via_arg.stderr.startswith("Error logging in at auth/other/login:")


def test_login_alicloud_with_the_default_credential_chain(cli: Cli, dev_server: DevServer) -> None:
    # No keys on the command line: alibabacloud-credentials' default chain finds them in the
    # environment (its first provider), as it would find an ECS RAM role or RRSA on a node.
    commands = _banner_commands(dev_server)
    ok(cli("write", *commands["write"]))
    given = dict(arg.split("=", 1) for arg in commands["login"])
    keys_free = [f"{k}={v}" for k, v in given.items() if k in ("role", "region")]
    env = {
        "WARDGATE_ADDR": dev_server.url,
        "ALIBABA_CLOUD_ACCESS_KEY_ID": given["access_key"],
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": given["secret_key"],
        "ALIBABA_CLOUD_SECURITY_TOKEN": given["security_token"],
        "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true",
    }
    out = ok(cli("login", "-method=alicloud", "-no-store", "-format=json", *keys_free, env=env))
    assert json.loads(out)["auth"]["metadata"]["role_name"] == given["role"]
    # And without any credentials anywhere, the error says what to give.
    bare = {
        "WARDGATE_ADDR": dev_server.url,
        "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true",
        "ALIBABA_CLOUD_CLI_PROFILE_DISABLED": "true",
    }
    failed = cli("login", "-method=alicloud", *keys_free, env=bare)
    assert failed.returncode != 0 and "credentials" in failed.stderr
