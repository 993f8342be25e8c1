"""Which auth-method types exist. Built-in plugins and third-party ones (the `wardgate.plugins`
entry-point group) all arrive through the same `register(registry)` call; nothing registers itself
at import time, so `build_app` decides exactly what is loaded."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points

from core.framework.path import BackendFactory

ENTRY_POINT_GROUP = "wardgate.plugins"
BUILTIN_PLUGINS = ("plugins.alicloud.backend:register",)


@dataclass(frozen=True, slots=True)
class PluginSpec:
    type: str
    factory: BackendFactory
    description: str


class PluginRegistry:
    def __init__(self) -> None:
        self._plugins: dict[str, PluginSpec] = {}

    def add(self, type_: str, factory: BackendFactory, *, description: str = "") -> None:
        if type_ in self._plugins or type_ == "token":
            raise ValueError(f"auth method type {type_!r} is already registered")
        self._plugins[type_] = PluginSpec(type_, factory, description)

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
