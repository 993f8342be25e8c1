"""README "Try an AliCloud login in two minutes", run as written: a real `wardgate server --dev`,
the README's three commands through bash with the real `wardgate` CLI, only the placeholders
filled in with the dev banner's root token and `wardgate sts-emulator --print-credentials`'
keys, as the README says."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import httpx

from tests.support.server import client_env, running_server

from .readme import Block, cli_env, demo_credentials, run_example, section_blocks, substitute

SECTION = "Try an AliCloud login in two minutes (dev server)"
README_KEYS = "access_key=STS... secret_key=... security_token=..."


def run_script(block: Block, script: str, home: Path) -> dict[str, str]:
    """Run `script` through bash with the real `wardgate` first on PATH; each wardgate call's
    output (stdout and stderr), keyed by its verb (`write`, `login`, `token`)."""
    env = cli_env(home)
    # Marks where each call's output starts; the calls themselves are the README's.
    wrapper = 'set -euo pipefail\nwardgate() { echo "== $1"; command wardgate "$@" 2>&1; }\n'
    out = run_example(["bash", "-c", wrapper + script], block, env, home)
    parts = re.split(r"^== (\S+)\n", out, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


# Runs a README Python block that uses top-level `await`, as an async REPL or notebook would.
AWAIT_RUNNER = """
import ast, asyncio, sys
namespace = {}
code = compile(sys.argv[1], "README.md", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
result = eval(code, namespace)
if result is not None:
    asyncio.run(result)
print(namespace["token"])
"""


def run_program_block(base_url: str, keys: str, home: Path) -> str:
    """The AliCloud section's Python block, run; the token it got."""
    (block,) = section_blocks("Login", "python")
    script = substitute(block.text, {"http://127.0.0.1:8200": base_url})
    given = dict(pair.split("=", 1) for pair in keys.split())
    env = client_env(
        home,
        ALIBABA_CLOUD_ACCESS_KEY_ID=given["access_key"],
        ALIBABA_CLOUD_ACCESS_KEY_SECRET=given["secret_key"],
        ALIBABA_CLOUD_SECURITY_TOKEN=given["security_token"],
        ALIBABA_CLOUD_ECS_METADATA_DISABLED="true",
    )
    out = run_example([sys.executable, "-c", AWAIT_RUNNER, script], block, env, home)
    return out.strip()


def test_alicloud_dev_login_as_the_readme_shows(tmp_path: Path) -> None:
    assert (Path(sys.executable).parent / "wardgate").exists(), "the wardgate script is needed"
    env = client_env(tmp_path)
    with running_server(["--dev"], env, log_dir=tmp_path / "server") as (base_url, server):
        banner = server.stderr()
        match = re.search(r"^  Root token: (\S+)$", banner, re.M)
        assert match, banner
        root_token = match.group(1)
        keys = demo_credentials()

        (block,) = section_blocks(SECTION, "sh")
        script = substitute(
            block.text,
            {
                "http://127.0.0.1:8200": base_url,
                "<the printed root token>": root_token,
                README_KEYS: keys,
            },
        )
        # "It prints copy-paste commands; they are:" the README's, line for line.
        printed = {line.strip() for line in banner.splitlines()}
        commands = [line for line in script.splitlines() if line and not line.startswith("#")]
        missing = [line for line in commands if line not in printed]
        assert not missing, f"not in the dev banner: {missing}\n{banner}"

        outputs = run_script(block, script, tmp_path)
        # "From a program": the login helper, credentials from the default chain (here the
        # environment, its first provider), against the role the README's commands wrote.
        program_token = run_program_block(base_url, keys, tmp_path)
        answer = httpx.get(
            f"{base_url}/v1/auth/token/lookup-self", headers={"X-Vault-Token": program_token}
        )
        assert answer.status_code == 200 and answer.json()["data"]["path"] == "auth/alicloud/login"

    assert "Success! Data written to: auth/alicloud/role/demo" in outputs["write"]
    assert "Success! You are now authenticated" in outputs["login"]
    stored = (tmp_path / ".wardgate-token").read_text().strip()
    assert stored in outputs["login"]
    lookup = dict(
        line.split(None, 1) for line in outputs["token"].splitlines() if len(line.split()) > 1
    )
    # The token the login got, not the root token: its policies, its login path, its identity.
    assert lookup["id"].strip() == stored != root_token
    assert lookup["policies"].strip() == "[default]"
    assert lookup["path"].strip() == "auth/alicloud/login"
    assert "assumed-role/demo/" in outputs["token"]
    # The program's login is another login of the same identity: a token of its own.
    assert program_token.startswith("s.") and program_token not in (stored, root_token)
