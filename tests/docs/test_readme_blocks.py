"""Every config and policy example in README.md loads with the project's own loaders, and every
`wardgate` command the README names exists. Blocks are read from README.md, so adding or
editing an example puts it under these checks without touching this file."""

from __future__ import annotations

import re
import subprocess
import tomllib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import msgspec
import pytest

from core.agent.config import load_agent_config
from core.config import (
    AuditDeviceConfig,
    AuthMountConfig,
    Config,
    SecretRef,
    duration,
    parse_config,
    resolve_secret,
)
from core.policy.parse import parse_policy
from core.registry import ENTRY_POINT_GROUP
from plugins.alicloud.backend import parse_config as alicloud_config
from plugins.approle.backend import parse_config as approle_config
from tests.support.server import wardgate_command

from .readme import README, ROOT, Block, blocks


def block_id(block: Block) -> str:
    return f"line{block.line}"


# -- TOML: a server config, a `wardgate agent` config, or a plugin package's pyproject.toml -----


def check_pyproject(block: Block, raw: dict[str, object]) -> None:
    """A plugin package's entry point: the group the registry loads, a `register` target."""
    project = raw["project"]
    assert isinstance(project, dict), block
    groups = project["entry-points"]
    assert list(groups) == [ENTRY_POINT_GROUP], block
    for name, target in groups[ENTRY_POINT_GROUP].items():
        assert re.fullmatch(r"[\w.]+:register", target), f"{block}: {name} = {target!r}"


def check_server_config(block: Block, monkeypatch: pytest.MonkeyPatch) -> None:
    config = parse_config(block.text, source=str(block))
    # Secrets written as { env = "NAME" } resolve from that variable.
    for key, value in (
        ("storage.dsn", config.storage.dsn),
        ("token.hmac_key", config.token.hmac_key),
    ):
        if isinstance(value, SecretRef) and value.env:
            monkeypatch.setenv(value.env, "from-the-environment")
            assert resolve_secret(value, key) == "from-the-environment"


@pytest.mark.parametrize("block", blocks("toml"), ids=block_id)
def test_toml_block_loads(block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = tomllib.loads(block.text)
    if "project" in raw:
        check_pyproject(block, raw)
    elif "auto_auth" in raw or "vault" in raw:
        path = tmp_path / "agent.toml"  # the loader picks TOML by the suffix
        path.write_text(block.text)
        config = load_agent_config(path)
        assert config.sinks, block
    else:
        check_server_config(block, monkeypatch)


def shown_default(value: object) -> str:
    """A default as the README and config.example.toml write it (TOML's spelling)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return "[]" if isinstance(value, list) else "{}"
    return str(value)


def same_default(section: str, key: str, shown: str, actual: object) -> bool:
    if key.endswith("_ttl") and section == "token":
        return duration(shown, key) == actual  # written `768h`, kept in seconds
    return shown == shown_default(actual)


def test_config_table_keys_and_defaults() -> None:
    """The Configuration section's table: every `section.key` it names is a config key, and
    the default it gives is the config's (`(none)` and the like: an empty default)."""
    defaults = Config()
    text = README.read_text()
    table = text.split("## Configuration", 1)[1].split("\n\n", 3)[2]
    checked = 0
    for row in table.splitlines()[2:]:
        key_cell, default_cell = (cell.strip() for cell in row.strip("|").split("|")[:2])
        names = re.findall(r"`(\w+(?:\.\w+)?)`", key_cell)
        if not names or "." not in names[0]:
            continue  # the [[auth]] and [[audit]] tables: their keys are checked below
        section = names[0].split(".")[0]
        shown = re.findall(r"`([^`]*)`", default_cell)
        for index, name in enumerate(names):
            key = name.removeprefix(f"{section}.")
            assert hasattr(getattr(defaults, section), key), f"README names {section}.{key}"
            actual = getattr(getattr(defaults, section), key)
            if shown:  # one value for several keys: the same for each
                value = shown[min(index, len(shown) - 1)]
                assert same_default(section, key, value, actual), f"{section}.{key}: {row}"
            else:  # "(none)", "(temporary)", "generated, kept in storage"
                assert not actual, f"{section}.{key} has a default: {actual!r}; README: {row}"
            checked += 1
    assert checked > 25, table


def test_config_example_shows_every_option_with_its_default() -> None:
    """README: config.example.toml "shows every option with its default"."""
    text = (ROOT / "config.example.toml").read_text()
    example = parse_config(text)
    defaults = Config()
    for section in msgspec.structs.fields(Config):
        if section.name in ("auth", "audit"):  # examples of tables, not defaults
            kinds = {"auth": AuthMountConfig, "audit": AuditDeviceConfig}
            keys = [f.name for f in msgspec.structs.fields(kinds[section.name])]
        else:
            keys = [f.name for f in msgspec.structs.fields(type(getattr(defaults, section.name)))]
            for key in keys:
                value = getattr(getattr(example, section.name), key)
                wanted = getattr(getattr(defaults, section.name), key)
                if isinstance(value, str) and isinstance(wanted, int) and key.endswith("_ttl"):
                    value = duration(value, key)
                assert value == wanted, f"config.example.toml: {section.name}.{key} = {value!r}"
        for key in keys:  # set, or shown commented out (`[auth.config]` for auth's config)
            shown = re.search(rf"^(# )?({key} =|\[{section.name}\.{key}\])", text, re.M)
            assert shown, f"config.example.toml does not show {section.name}.{key}"


def mount_config_tables() -> dict[str, list[tuple[list[str], list[str]]]]:
    """Each auth method's mount-config table (`| key | default | meaning |` under
    `## The <Type> auth method`): rows of (key names, defaults shown)."""
    text = README.read_text()
    tables: dict[str, list[tuple[list[str], list[str]]]] = {}
    for section in re.split(r"^## ", text, flags=re.M):
        title = re.match(r"The (\w+) auth method", section)
        if not title or "| key | default | meaning |" not in section:
            continue
        table = section.split("| key | default | meaning |", 1)[1].split("\n\n", 1)[0]
        rows = []
        for row in table.strip().splitlines()[1:]:
            key_cell, default_cell = row.strip("|").split("|")[:2]
            rows.append((re.findall(r"`(\w+)`", key_cell), re.findall(r"`([^`]*)`", default_cell)))
        tables[title.group(1).lower()] = rows
    return tables


def toml_value(text: str) -> object:
    """A default as written in the README: a TOML value (`5`, `false`), else the string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def plugin_config_parser(type_: str) -> Callable[[dict[str, Any]], object]:
    return {"alicloud": alicloud_config, "approle": approle_config}[type_]


def test_mount_config_tables_keys_and_defaults() -> None:
    """Each auth method's mount-config table: every key is one the plugin takes, and giving
    the default the README shows changes nothing."""
    tables = mount_config_tables()
    assert set(tables) == {"alicloud", "approle"}, tables
    for type_, rows in tables.items():
        parse = plugin_config_parser(type_)
        defaults = parse({})
        for names, shown in rows:
            for index, name in enumerate(names):
                value: object = shown[min(index, len(shown) - 1)] if shown else ""  # (none)
                if shown:
                    value = toml_value(str(value))
                assert parse({name: value}) == defaults, f"{type_} {name}: README says {value!r}"


def test_config_example_plugin_settings_are_the_defaults() -> None:
    """config.example.toml's `[auth.config]` tables, the commented AppRole one included,
    are what the plugins take, at their defaults."""
    text = (ROOT / "config.example.toml").read_text()
    # The commented-out [[auth]] block: its lines up to the first uncommented one.
    head, commented = text.split("\n# [[auth]]\n", 1)
    block = ["[[auth]]"]
    for line in commented.splitlines():
        if not line.startswith("#"):
            break
        block.append(line.removeprefix("#").removeprefix(" "))
    mounts = tomllib.loads(head + "\n" + "\n".join(block))["auth"]
    assert [m["type"] for m in mounts] == ["alicloud", "approle"], mounts
    for mount in mounts:
        parse = plugin_config_parser(mount["type"])
        assert parse(mount["config"]) == parse({}), mount


# -- HCL: ACL policies, and `wardgate agent` configs (Vault Agent's HCL) -------------------------


@pytest.mark.parametrize("block", blocks("hcl"), ids=block_id)
def test_hcl_block_loads(block: Block, tmp_path: Path) -> None:
    if "auto_auth" in block.text:
        path = tmp_path / "agent.hcl"
        path.write_text(block.text)
        assert load_agent_config(path).sinks, block
        return
    # A policy; its name from the file name in its first comment (`# reader.hcl`), if any.
    name = block.file_name.removesuffix(".hcl") or "example"
    policy = parse_policy(name, block.text)
    assert policy.rules, block


def test_policy_files_the_commands_use_are_shown() -> None:
    """`policy=@reader.hcl` in a command: the README shows `reader.hcl` (its first comment)."""
    shown = {b.file_name for b in blocks("hcl")}
    used = {name for b in blocks("sh") for name in re.findall(r"=@([\w.-]+\.hcl)\b", b.text)}
    assert used, "README's sh blocks write no policy file any more; update this test"
    assert used <= shown, f"used but never shown: {sorted(used - shown)}"


# -- every `wardgate <command>` the README names exists ------------------------------------------


def named_commands() -> set[tuple[str, ...]]:
    """(command, next word) of every `wardgate ...` in README's sh blocks and inline code."""
    sources = []
    for block in blocks("sh"):
        text = block.text.replace("\\\n", " ")
        sources += [re.sub(r"(^|\s)#.*$", "", line) for line in text.splitlines()]
    sources += re.findall(r"`(wardgate [^`]+)`", README.read_text())
    found = set()
    for line in sources:
        for first, second in re.findall(
            r"(?:^|[\s(;|&])wardgate\s+([\w-]+)(?:\s+([^\s)]+))?", line
        ):
            found.add((first, second.replace("\\|", "|")))
    return found


def helps(*commands: tuple[str, ...]) -> dict[tuple[str, ...], subprocess.CompletedProcess[str]]:
    """`wardgate <command> -h` of each, a few at a time (each is a process start)."""

    def run(words: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*wardgate_command(), *words, "-h"], capture_output=True, text=True, timeout=60
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(commands, pool.map(run, commands), strict=True))


def test_every_named_command_exists() -> None:
    named = named_commands()
    firsts = sorted({first for first, _ in named if not first.startswith("-")})
    # Sanity: the extraction sees the README's commands (if this fails, fix the extraction).
    assert {"server", "write", "login", "token", "policy", "sts-emulator"} <= set(firsts), firsts
    groups = {}
    for (first,), result in helps(*[(first,) for first in firsts]).items():
        assert result.returncode == 0, f"`wardgate {first} -h` failed:\n{result.stderr}"
        if result.stdout.startswith(f"Usage: wardgate {first} <subcommand>"):
            groups[first] = result.stdout
        # A flag named right after the command (one dash or two) is one it lists.
        for flag in {second for name, second in named if name == first and "-" in second[:3]}:
            bare = re.findall(r"[\w-]+", flag.lstrip("[-"))[0]
            if bare in ("h", "help"):
                continue  # every command takes it, and none lists it
            listed = re.search(rf"(?<![\w-])--?{re.escape(bare)}(?![\w-])", result.stdout)
            assert listed, f"`wardgate {first} -h` lists no flag {flag}:\n{result.stdout}"
    subcommands = {
        (first, sub)
        for first, second in named
        if first in groups
        for sub in second.split("|")
        if re.fullmatch(r"[a-z][\w-]*", sub)
    }
    assert subcommands, "README names no `wardgate token ...` or similar; update this test"
    for (first, sub), result in helps(*sorted(subcommands)).items():
        assert result.returncode == 0, f"`wardgate {first} {sub} -h` failed:\n{result.stderr}"
