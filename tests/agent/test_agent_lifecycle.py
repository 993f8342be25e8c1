"""`wardgate agent` against a real server (role token_ttl=4s, token_max_ttl=12s): the sink holds
a working token, renewed before expiry, replaced at max TTL, after a revocation and after a
server outage; credentials from the config, the environment and a profile file that changes."""

from __future__ import annotations

import os
import signal
import stat
import time
from pathlib import Path

from .conftest import FIRST, SECOND, Stack, read_sink, wait_for

VAULT_AGENT_HCL = """
pid_file = "{folder}/agent.pid"
vault {{
  address = "{url}"
}}
auto_auth {{
  method "alicloud" {{
    mount_path = "auth/alicloud"
    min_backoff = "1s"
    max_backoff = "2s"
    config = {{
      role = "app"
      region = "cn-hangzhou"
      access_key = "{key}"
      access_secret = "{secret}"
    }}
  }}
  sink "file" {{
    config = {{
      path = "{folder}/token"
      mode = 0640
    }}
  }}
  sink "file" {{
    config = {{
      path = "{folder}/token-copy"
    }}
  }}
}}
"""


def vault_agent_config(stack: Stack) -> Path:
    path = stack.folder / "agent.hcl"
    path.write_text(
        VAULT_AGENT_HCL.format(
            folder=stack.folder,
            url=stack.url,
            key=FIRST["access_key_id"],
            secret=FIRST["access_key_secret"],
        )
    )
    return path


def toml_config(stack: Stack, **method_config: str) -> Path:
    lines = "\n".join(f'{k} = "{v}"' for k, v in method_config.items())
    path = stack.folder / "agent.toml"
    path.write_text(
        f'[vault]\naddress = "{stack.url}"\n'
        '[auto_auth.method.alicloud]\nmin_backoff = "1s"\nmax_backoff = "2s"\n'
        f'[auto_auth.method.alicloud.config]\nrole = "app"\nregion = "cn-hangzhou"\n{lines}\n'
        f'[[auto_auth.sink.file]]\nconfig = {{ path = "{stack.folder / "token"}" }}\n'
    )
    return path


def works(stack: Stack, token: str) -> dict[str, object]:
    response = stack.lookup(token)
    assert response.status_code == 200, f"the sink's token does not work: {response.text}"
    data: dict[str, object] = response.json()["data"]
    return data


def test_vault_agent_hcl_renews_then_logs_in_again_at_max_ttl(stack: Stack) -> None:
    sink = stack.folder / "token"
    agent = stack.start_agent(vault_agent_config(stack))
    first = str(wait_for(lambda: read_sink(sink), what="a first token"))
    assert (stack.folder / "agent.pid").read_text().strip() == str(agent.pid)
    assert stat.S_IMODE(sink.stat().st_mode) == 0o640
    assert not first.endswith("\n") and read_sink(stack.folder / "token-copy") == first
    first_data = works(stack, first)
    assert first_data["meta"]["principal_id"] == FIRST["principal_id"]  # type: ignore[index]

    # Sample the sink: every token seen works, the first one outlives its 4 s TTL (it was
    # renewed: same token, TTL refreshed), and a new login replaces it when max TTL comes.
    seen: list[str] = []
    renewed = False

    def replaced() -> bool:
        nonlocal renewed
        token = read_sink(sink)
        if token and token not in seen:
            seen.append(token)
        data = stack.lookup(token)
        if data.status_code == 200 and token == first:
            last_renewal = data.json()["data"].get("last_renewal_time")
            renewed = renewed or bool(last_renewal)
        return token != first

    wait_for(replaced, timeout=60, what="the login at max TTL")
    assert renewed, "the first token was never renewed"
    second = read_sink(sink)
    assert works(stack, second)["accessor"] != first_data["accessor"]
    # the old one reached its max TTL: it was not revoked, it ends by itself
    wait_for(lambda: stack.lookup(first).status_code == 403, what="the old token to expire")
    works(stack, read_sink(sink))
    assert agent.poll() is None
    log = stack.agent_log()
    assert "renewed" in log and "max TTL" in log
    for token in seen:
        assert token not in log  # no secrets in logs
    assert FIRST["access_key_secret"] not in log


def test_revoked_token_is_replaced(stack: Stack) -> None:
    sink = stack.folder / "token"
    stack.start_agent(
        toml_config(stack, access_key=FIRST["access_key_id"], secret_key=FIRST["access_key_secret"])
    )
    first = str(wait_for(lambda: read_sink(sink), what="a first token"))
    works(stack, first)
    revoked = stack.root("POST", "auth/token/revoke", {"token": first})
    assert revoked.status_code == 204
    wait_for(lambda: read_sink(sink) not in ("", first), timeout=20, what="a new token")
    works(stack, read_sink(sink))
    assert "renewal refused" in stack.agent_log()


def test_survives_a_server_outage(stack: Stack) -> None:
    sink = stack.folder / "token"
    agent = stack.start_agent(
        toml_config(stack, access_key=FIRST["access_key_id"], secret_key=FIRST["access_key_secret"])
    )
    first = str(wait_for(lambda: read_sink(sink), what="a first token"))
    works(stack, first)
    stack.stop_server()
    time.sleep(5)  # the outage: longer than the token's TTL
    assert agent.poll() is None
    stack.start_server()  # same port, same SQLite file
    wait_for(
        lambda: stack.lookup(read_sink(sink)).status_code == 200,
        timeout=60,
        what="a working token after the outage",
    )
    assert agent.poll() is None
    assert "failed" in stack.agent_log()


def test_credentials_from_the_environment(stack: Stack) -> None:
    sink = stack.folder / "token"
    stack.start_agent(
        toml_config(stack),
        ALIBABA_CLOUD_ACCESS_KEY_ID=SECOND["access_key_id"],
        ALIBABA_CLOUD_ACCESS_KEY_SECRET=SECOND["access_key_secret"],
    )
    token = str(wait_for(lambda: read_sink(sink), what="a token"))
    assert works(stack, token)["meta"]["principal_id"] == SECOND["principal_id"]  # type: ignore[index]


def test_credentials_from_a_profile_file_that_changes(stack: Stack) -> None:
    sink = stack.folder / "token"
    profile = stack.folder / "credentials.ini"

    def write_profile(who: dict[str, str]) -> None:
        profile.write_text(
            f"[default]\ntype = access_key\naccess_key_id = {who['access_key_id']}"
            f"\naccess_key_secret = {who['access_key_secret']}\n"
        )

    write_profile(FIRST)
    stack.start_agent(
        toml_config(stack),
        ALIBABA_CLOUD_CREDENTIALS_FILE=str(profile),
        ALIBABA_CLOUD_CLI_PROFILE_DISABLED="true",
    )
    first = str(wait_for(lambda: read_sink(sink), what="a token"))
    assert works(stack, first)["meta"]["principal_id"] == FIRST["principal_id"]  # type: ignore[index]
    write_profile(SECOND)  # rotated; the next login (here: after a revocation) uses it
    stack.root("POST", "auth/token/revoke", {"token": first})
    second = str(
        wait_for(
            lambda: read_sink(sink) not in ("", first) and read_sink(sink),
            timeout=20,
            what="a new token",
        )
    )
    assert works(stack, second)["meta"]["principal_id"] == SECOND["principal_id"]  # type: ignore[index]


def test_sigterm_exits_0_and_sighup_reloads(stack: Stack) -> None:
    sink = stack.folder / "token"
    config = toml_config(
        stack, access_key=FIRST["access_key_id"], secret_key=FIRST["access_key_secret"]
    )
    agent = stack.start_agent(config)
    wait_for(lambda: read_sink(sink), what="a token")
    extra = stack.folder / "extra-token"
    config.write_text(
        config.read_text()
        + f'[[auto_auth.sink.file]]\nconfig = {{ path = "{extra}", mode = 0o600 }}\n'
    )
    os.kill(agent.pid, signal.SIGHUP)
    wait_for(lambda: read_sink(extra), what="the new sink after SIGHUP")
    assert stat.S_IMODE(extra.stat().st_mode) == 0o600
    works(stack, read_sink(extra))
    # a broken config on SIGHUP is refused, the agent keeps running
    config.write_text(config.read_text() + "bogus = 1\n")
    os.kill(agent.pid, signal.SIGHUP)
    wait_for(lambda: "config not reloaded" in stack.agent_log(), what="the error")
    assert "bogus" in stack.agent_log()
    assert agent.poll() is None
    os.kill(agent.pid, signal.SIGTERM)
    assert agent.wait(20) == 0
    assert "agent stopped" in stack.agent_log()


def test_exit_after_auth(stack: Stack) -> None:
    config = toml_config(
        stack, access_key=FIRST["access_key_id"], secret_key=FIRST["access_key_secret"]
    )
    config.write_text("exit_after_auth = true\n" + config.read_text())
    agent = stack.start_agent(config)
    assert agent.wait(60) == 0
    works(stack, read_sink(stack.folder / "token"))
