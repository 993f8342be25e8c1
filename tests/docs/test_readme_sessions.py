"""README's command sessions (sh blocks of wardgate and curl calls), each command run as written
through bash with the real `wardgate` CLI and `curl` against one real dev server, in README
order (later examples use what earlier ones made, as a reader following along would: run the
module whole, not one session with -k). A command
under a `# denied` comment must be refused with `permission denied`; every other one must
succeed. The `.hcl` files the commands name are the README's own blocks."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from tests.support.server import client_env, running_server

from .readme import (
    README,
    Block,
    blocks,
    cli_env,
    demo_credentials,
    require_tools,
    run_example,
    section_blocks,
    substitute,
)


@dataclass(frozen=True)
class Session:
    """A README sh block (the `index`th under `section`), the only substitutions it needs
    (`{tmp}`: the working directory, `{url}`, `{root}`: the server's), a command the README's
    prose says to run first, and what the output shows (besides every command succeeding or
    being denied as its comment says)."""

    section: str
    shown: tuple[str, ...]
    replace: tuple[tuple[str, str], ...] = ()
    before: str = ""
    index: int = 0
    # Commands of the test's own that make what the block assumes exists (not the README's).
    setup: tuple[str, ...] = ()


# In README order.
SESSIONS = [
    # `read` gives "the text exactly as written"
    Session(
        "Writing a policy", ('path "auth/alicloud/role/*" {\n  capabilities = ["read", "list"]',)
    ),
    # the role's allowed policy, on a token created from it
    Session("Token roles", ('policies             ["default" "reader"]',)),
    Session("Example: an AliCloud role administrator", ("Keys\n----\nweb", "default_lease_ttl")),
    # the role the administrator wrote; the app-web token (no such policy) may do nothing there
    Session(
        "Example: a read-only auditor",
        ("acs:ram::1234567890123456:role/web", "auth/alicloud/role/web    [deny]"),
    ),
    Session(
        "Audit devices",
        ("hmac-sha256:", "{tmp}/audit.log"),
        replace=(("/var/log/wardgate/audit.log", "{tmp}/audit.log"),),
    ),
    Session("Rate-limit quotas", ("Keys\n----\nci\nlogins",)),
    # the machine's values are what the first commands printed
    Session(
        "The AppRole auth method",
        ('token_policies          ["default" "deploy"]', "token_meta_role_name    ci"),
        replace=(
            ("role_id=...", "role_id=$(wardgate read -field=role_id auth/approle/role/ci/role-id)"),
            (
                "secret_id=...",
                "secret_id=$(wardgate write -f -field=secret_id auth/approle/role/ci/secret-id)",
            ),
        ),
        before="wardgate write sys/auth/approle type=approle",
    ),
    # the client ID and secret the first commands answered (.out.N: command N's output)
    Session(
        "Universal Auth (`universal-auth`)",
        ('"accessToken"', '"tokenType":"Bearer"'),
        replace=(
            (
                """'{"clientId":"...","clientSecret":"..."}'""",
                """"{\\"clientId\\": \\"$(jq -r .identityUniversalAuth.clientId .out.1)\\","""
                """ \\"clientSecret\\": \\"$(jq -r .clientSecret .out.2)\\"}\"""",
            ),
        ),
    ),
    # body.json from `wardgate login ... -print-payload`, as the README says, for an identity
    # the dev emulator's demo session may log in as
    Session(
        "AliCloud auth (`alicloud-auth`)",
        ('"path":"auth/alicloud/login"', '"accessToken":"'),
        index=1,
        setup=(
            """ID=$(curl -s -H "Authorization: Bearer $WARDGATE_TOKEN" -d '{"name": "demo"}' """
            """$WARDGATE_ADDR/api/v1/identities | jq -r .identity.id)""",
            """curl -s -H "Authorization: Bearer $WARDGATE_TOKEN" """
            """-d '{"allowedArns": "acs:ram::1234567890123456:role/demo"}' """
            """$WARDGATE_ADDR/api/v1/auth/alicloud-auth/identities/$ID""",
            "wardgate login -method=alicloud identity_id=$ID -print-payload {keys} > body.json",
        ),
    ),
    Session(
        "AliCloud auth (`alicloud-auth`)",
        ('"identityAliCloudAuth"', '"allowedArns":"acs:ram::1234567890123456:role/ci"'),
        replace=(
            ("http://127.0.0.1:8200", "{url}"),
            ("<root or an identity admin>", "{root}"),
        ),
    ),
]


@dataclass
class DevServer:
    url: str
    root_token: str
    workdir: Path
    keys: str  # the dev STS emulator's demo identity, as `login` arguments


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    require_tools("curl", "jq")
    workdir = tmp_path_factory.mktemp("readme-sessions")
    for block in blocks("hcl"):  # reader.hcl, role-admin.hcl, ... as `policy=@file` reads them
        if block.file_name:
            (workdir / block.file_name).write_text(block.text)
    with running_server(["--dev"], client_env(workdir), log_dir=workdir / "server") as (
        url,
        server,
    ):
        match = re.search(r"^  Root token: (\S+)$", server.stderr(), re.M)
        assert match, server.describe()
        yield DevServer(url, match.group(1), workdir, demo_credentials())


@dataclass
class Command:
    text: str
    denied: bool  # under a `# denied` comment


def commands(text: str) -> list[Command]:
    found: list[Command] = []
    denied = False
    pending = ""
    for line in text.splitlines():
        if not pending and not line.strip():
            continue
        if not pending and line.lstrip().startswith("#"):
            if "denied" in line:
                denied = True
            elif "allowed" in line:
                denied = False
            continue
        pending += line + "\n"
        if not line.endswith("\\"):
            found.append(Command(pending, denied))
            pending = ""
    return found


def run_session(block: Block, server: DevServer, session: Session) -> list[str]:
    """Each command's output (stdout and stderr), run one after the other in one bash."""
    values = {
        "{tmp}": str(server.workdir),
        "{url}": server.url,
        "{root}": server.root_token,
        "{keys}": server.keys,
    }
    replacements = {old: substitute(new, values, strict=False) for old, new in session.replace}
    cmds = commands(substitute(block.text, replacements))
    if session.before:
        assert f"`{session.before}`" in README.read_text(), session.before
        cmds.insert(0, Command(session.before + "\n", denied=False))
    setup = [Command(substitute(c, values, strict=False) + "\n", False) for c in session.setup]
    cmds = setup + cmds
    script = "exec 2>&1\n"
    for index, command in enumerate(cmds):
        # Each output is also kept in .out.<index> (a later command may read an earlier one's
        # answer); the braces keep variable assignments in this shell. curl's bodies end
        # without a newline, hence the echo.
        script += (
            f"echo '==[{index}]'\n{{ {command.text}}} > .out.{index} 2>&1; rc=$?\n"
            f'cat .out.{index}; echo; echo "==rc $rc"\n'
        )
    env = cli_env(server.workdir, WARDGATE_ADDR=server.url, WARDGATE_TOKEN=server.root_token)
    out = run_example(["bash", "-c", script], block, env, server.workdir)
    results = re.findall(r"^==\[(\d+)\]\n(.*?)^==rc (\d+)$", out, re.M | re.S)
    assert [int(i) for i, _, _ in results] == list(range(len(cmds))), out
    problems = []
    for command, (_, output, rc) in zip(cmds, results, strict=True):
        refused = "permission denied" in output
        # Vault's error body, Infisical's, the CLI's message
        errors = ('"errors"', '"statusCode"', "Error")
        failed = int(rc) != 0 or refused or any(text in output for text in errors)
        if command.denied and not refused:
            problems.append(f"should be denied:\n{command.text}{output}")
        elif not command.denied and failed:
            problems.append(f"failed (exit {rc}):\n{command.text}{output}")
    assert not problems, f"{block}:\n" + "\n".join(problems)
    return [output for _, output, _ in results]


@pytest.mark.parametrize("session", SESSIONS, ids=[s.section for s in SESSIONS])
def test_readme_session(session: Session, dev_server: DevServer) -> None:
    block = section_blocks(session.section, "sh")[session.index]
    output = "".join(run_session(block, dev_server, session))
    for text in session.shown:
        assert text.replace("{tmp}", str(dev_server.workdir)) in output, f"{block}:\n{output}"


def test_prometheus_scrape_config(dev_server: DevServer) -> None:
    """README's prometheus.yml asks for what the server serves: Prometheus asks GET
    `metrics_path` with `params`, the token file's content as the bearer credential."""
    (block,) = section_blocks("Metrics", "yaml")
    (job,) = yaml.safe_load(block.text)["scrape_configs"]
    assert set(job["authorization"]) == {"credentials_file"}  # type Bearer, Prometheus' default
    params = {name: values[0] for name, values in job["params"].items()}
    answer = httpx.get(
        f"{dev_server.url}{job['metrics_path']}",
        params=params,
        headers={"Authorization": f"Bearer {dev_server.root_token}"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "# TYPE vault_core_handle_request summary" in answer.text
