"""Which auth-method types exist. Plugins arrive two ways, both through the same
`register(registry)` call:

- a folder `plugins/<name>/` (found by listing the `plugins` package: no packaging needed), with
  `register` in its `__init__.py` or its `backend.py`;
- an installed package that declares `register` in the `wardgate.plugins` entry-point group.

Nothing registers itself at import time, so `default_registry` decides exactly what is loaded.
A plugin that is present but fails to load stops the start (PluginLoadError, one line): a server
silently missing an auth method would refuse its logins instead."""

from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

from core.framework.path import BackendFactory

ENTRY_POINT_GROUP = "wardgate.plugins"
PLUGIN_PACKAGE = "plugins"
# Where a plugin folder's `register` is looked for, in this order.
_REGISTER_MODULES = ("", ".backend")

log = logging.getLogger("wardgate")


class PluginLoadError(Exception):
    """A plugin is present but cannot be loaded; the message names it."""


@dataclass(frozen=True, slots=True)
class DevEnvironment:
    """What a plugin sets up for `wardgate server --dev`: the config of the mount the dev
    server creates for it, and lines to print (e.g. a copy-paste login command)."""

    mount_path: str
    mount_config: dict[str, Any]
    banner: list[str] = field(default_factory=list)


# A plugin's dev hook starts local stand-ins (e.g. an STS emulator) for as long as the dev
# server runs. It gets the server's address so its banner can show working commands.
DevHook = Callable[[str], AbstractAsyncContextManager[DevEnvironment]]
# `wardgate login -method=<type> k=v ...`: builds the login request body from the arguments.
LoginHelper = Callable[[dict[str, str]], Awaitable[dict[str, Any]]]
# Extra top-level CLI commands a plugin brings (`wardgate sts-emulator ...`): argv -> exit code.
Command = Callable[[list[str]], int]


@dataclass(frozen=True, slots=True)
class PluginSpec:
    type: str
    factory: BackendFactory
    description: str
    login: LoginHelper | None = None
    dev: DevHook | None = None
    commands: dict[str, Command] = field(default_factory=dict)
    # The arguments `login` takes, name -> one line of help (`wardgate login -h` lists them).
    login_args: Mapping[str, str] = field(default_factory=dict)
    # The Infisical auth method the plugin also serves (e.g. "alicloud-auth"): a body from
    # `login` that carries `identityId` is sent to `/api/v1/auth/<it>/login` instead.
    infisical_method: str = ""


class PluginRegistry:
    def __init__(self) -> None:
        self._plugins: dict[str, PluginSpec] = {}

    def add(
        self,
        type_: str,
        factory: BackendFactory,
        *,
        description: str = "",
        login: LoginHelper | None = None,
        dev: DevHook | None = None,
        commands: dict[str, Command] | None = None,
        login_args: Mapping[str, str] | None = None,
        infisical_method: str = "",
    ) -> None:
        if type_ in self._plugins or type_ == "token":
            raise ValueError(f"auth method type {type_!r} is already registered")
        self._plugins[type_] = PluginSpec(
            type_,
            factory,
            description,
            login,
            dev,
            dict(commands or {}),
            dict(login_args or {}),
            infisical_method,
        )

    def command(self, name: str) -> Command | None:
        for spec in self._plugins.values():
            if name in spec.commands:
                return spec.commands[name]
        return None

    def get(self, type_: str) -> PluginSpec | None:
        return self._plugins.get(type_)

    def types(self) -> list[str]:
        return sorted(self._plugins)


Register = Callable[[PluginRegistry], None]


def plugin_folders(package: str = PLUGIN_PACKAGE) -> list[tuple[str, Register]]:
    """(module, register) for each folder of the plugins package that has `register`."""
    root = importlib.import_module(package)
    found: list[tuple[str, Register]] = []
    for info in sorted(pkgutil.iter_modules(root.__path__), key=lambda i: i.name):
        if not info.ispkg or info.name.startswith("_"):
            continue
        module_name = f"{package}.{info.name}"
        register = _find_register(module_name)
        if register is None:
            log.warning(
                "%s/%s/ has no register(registry) in __init__.py or backend.py; not loaded",
                package,
                info.name,
            )
            continue
        found.append((module_name, register))
    return found


def _find_register(package: str) -> Register | None:
    for suffix in _REGISTER_MODULES:
        module_name = package + suffix
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue  # no backend.py: fine, `register` may be in __init__.py
            raise PluginLoadError(f"cannot load plugin {package}: {exc}") from exc
        except Exception as exc:
            raise PluginLoadError(f"cannot load plugin {package}: {exc}") from exc
        register = getattr(module, "register", None)
        if callable(register):
            found: Register = register
            return found
    return None


def _register(registry: PluginRegistry, register: Register, source: str) -> None:
    try:
        register(registry)
    except Exception as exc:
        raise PluginLoadError(f"plugin {source} failed to register: {exc}") from exc


def default_registry(*, include_entry_points: bool = True) -> PluginRegistry:
    """The plugin folders, then (unless told not to) the installed entry points."""
    registry = PluginRegistry()
    loaded: list[str] = []
    for module_name, register in plugin_folders():
        _register(registry, register, module_name)
        loaded.append(module_name)
    if include_entry_points:
        for entry_point in entry_points(group=ENTRY_POINT_GROUP):
            if any(f"{entry_point.module}.".startswith(f"{m}.") for m in loaded):
                continue  # a plugin folder that is also declared as an entry point
            try:
                declared: Register = entry_point.load()
            except Exception as exc:
                raise PluginLoadError(
                    f"cannot load plugin {entry_point.name} ({entry_point.value}): {exc}"
                ) from exc
            _register(registry, declared, f"{entry_point.name} ({entry_point.value})")
    return registry
