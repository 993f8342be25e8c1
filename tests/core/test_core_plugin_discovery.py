"""How plugins are found: a folder `plugins/<name>/` with `register(registry)`, no packaging;
an installed package through the `wardgate.plugins` entry point. The plugin is the README's own
"Writing a plugin" example, read from README.md, so the README cannot drift from what works."""

from __future__ import annotations

import logging
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

import plugins
from core.registry import PluginLoadError, default_registry, plugin_folders
from tests.conftest import start_server
from tests.support.server import client_env, running_server

ROOT = Path(__file__).resolve().parents[2]
DEV_ROOT = "dev-root-token"


def readme_plugin() -> str:
    """The first Python block of the README's "Writing a plugin" section."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Writing a plugin\n", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "README's Writing a plugin section has no python example"
    return match.group(1)


def write_plugin_folder(parent: Path, name: str, backend: str, init: str = "") -> Path:
    folder = parent / name
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text(init)
    if backend:
        (folder / "backend.py").write_text(backend)
    return folder


def write_distribution(site: Path, module: str, type_: str) -> None:
    """An installed third-party plugin, as pip leaves it: its module and a dist-info whose
    entry_points.txt declares `register` in the wardgate.plugins group."""
    (site / module).mkdir(parents=True)
    code = readme_plugin().replace('registry.add("hello"', f'registry.add("{type_}"')
    (site / module / "__init__.py").write_text(code)
    info = site / f"{module}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[wardgate.plugins]\n{type_} = {module}:register\n")


@pytest.fixture
def extra_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A second folder of the `plugins` package (as if the folders were in the source tree);
    the plugin modules imported from it are forgotten afterwards."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    monkeypatch.setattr(plugins, "__path__", [*plugins.__path__, str(folder)])
    before = set(sys.modules)
    yield folder
    for name in set(sys.modules) - before:
        if name.startswith("plugins."):
            del sys.modules[name]


async def hello_through(srv: Any, mount: str, type_: str) -> None:
    resp = await srv.call("POST", f"/v1/sys/auth/{mount}", json={"type": type_})
    assert resp.status_code == 204, resp.text
    resp = await srv.call("GET", f"/v1/auth/{mount}/hello", params={"name": "bob"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["data"] == {"greeting": "hello bob"}


async def test_the_readme_plugin_in_a_folder_is_found_and_serves(extra_plugins: Path) -> None:
    write_plugin_folder(extra_plugins, "hello", readme_plugin())
    registry = default_registry(include_entry_points=False)
    assert registry.types() == ["alicloud", "approle", "hello"]
    async with start_server(registry=registry) as srv:
        await hello_through(srv, "hello", "hello")
        helped = await srv.call("GET", "/v1/auth/hello/hello", params={"help": "1"})
        assert "Say hello." in helped.json()["help"]


async def test_register_may_sit_in_the_folders_init(extra_plugins: Path) -> None:
    code = readme_plugin().replace('registry.add("hello"', 'registry.add("greeter"')
    write_plugin_folder(extra_plugins, "greeter", backend="", init=code)
    assert "greeter" in default_registry(include_entry_points=False).types()


def test_a_folder_without_register_is_skipped_with_a_warning(
    extra_plugins: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_plugin_folder(extra_plugins, "notes", backend="X = 1\n")
    (extra_plugins / "loose").mkdir()  # not a package: no __init__.py
    with caplog.at_level(logging.WARNING, "wardgate"):
        found = [name for name, _ in plugin_folders()]
    assert found == ["plugins.alicloud", "plugins.approle"]
    assert "plugins/notes/ has no register(registry)" in caplog.text


def test_a_plugin_that_fails_to_import_stops_the_start_naming_it(extra_plugins: Path) -> None:
    write_plugin_folder(extra_plugins, "broken", backend="import not_a_module_anywhere\n")
    with pytest.raises(PluginLoadError, match=r"plugins\.broken.*not_a_module_anywhere"):
        default_registry(include_entry_points=False)


def test_a_plugin_taking_a_type_already_registered_stops_the_start(extra_plugins: Path) -> None:
    code = readme_plugin().replace('registry.add("hello"', 'registry.add("alicloud"')
    write_plugin_folder(extra_plugins, "copycat", code)
    with pytest.raises(PluginLoadError, match=r"plugins\.copycat.*'alicloud' is already"):
        default_registry(include_entry_points=False)


async def test_an_installed_package_is_found_through_its_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    write_distribution(site, "wardgate_hello_ep", "hello-ep")
    monkeypatch.syspath_prepend(str(site))
    try:
        assert "hello-ep" not in default_registry(include_entry_points=False).types()
        registry = default_registry()
        assert "hello-ep" in registry.types()
        async with start_server(registry=registry) as srv:
            await hello_through(srv, "third", "hello-ep")
    finally:
        sys.modules.pop("wardgate_hello_ep", None)


def test_a_real_server_finds_a_dropped_in_folder_and_an_installed_package(
    tmp_path: Path,
) -> None:
    # A copy of the source tree with the README's plugin dropped into plugins/, and a
    # third-party package installed beside it: `wardgate server` finds both at start.
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "core", src / "core", ignore=ignore)
    shutil.copytree(ROOT / "plugins", src / "plugins", ignore=ignore)
    write_plugin_folder(src / "plugins", "hello", readme_plugin())
    site = tmp_path / "site"
    write_distribution(site, "wardgate_hello_ep", "hello-ep")
    env = client_env(tmp_path, PYTHONPATH=os.pathsep.join([str(src), str(site)]))
    args = ["--dev", "--dev-root-token-id", DEV_ROOT]
    with running_server(args, env, log_dir=tmp_path / "logs") as (base_url, _):
        headers = {"X-Vault-Token": DEV_ROOT}
        for mount, type_ in (("hello", "hello"), ("third", "hello-ep")):
            enabled = httpx.post(
                f"{base_url}/v1/sys/auth/{mount}", json={"type": type_}, headers=headers
            )
            assert enabled.status_code == 204, enabled.text
            resp = httpx.get(
                f"{base_url}/v1/auth/{mount}/hello", params={"name": "bob"}, headers=headers
            )
            assert resp.json()["data"] == {"greeting": "hello bob"}
