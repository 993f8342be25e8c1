"""Which auth-method types exist. Built-in plugins and third-party ones (the `wardgate.plugins`
entry-point group) all arrive through the same `register(registry)` call; nothing registers itself
at import time, so `build_app` decides exactly what is loaded."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

from core.framework.path import BackendFactory

ENTRY_POINT_GROUP = "wardgate.plugins"
BUILTIN_PLUGINS = ("plugins.alicloud.backend:register", "plugins.approle.backend:register")


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


def _load(target: str) -> Register:
    module_name, _, attr = target.partition(":")
    register: Register = getattr(importlib.import_module(module_name), attr)
    return register


def default_registry(*, include_entry_points: bool = True) -> PluginRegistry:
    registry = PluginRegistry()
    for target in BUILTIN_PLUGINS:
        _load(target)(registry)
    if include_entry_points:
        for entry_point in entry_points(group=ENTRY_POINT_GROUP):
            register: Register = entry_point.load()
            register(registry)
    return registry
