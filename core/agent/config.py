"""The agent's config file: Vault Agent's HCL for what wardgate supports, or TOML of the same
structure. Every key is checked: an unknown or unsupported one is an error naming it."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl  # type: ignore[import-untyped]

from core.framework.fields import parse_duration

DEFAULT_SINK_MODE = 0o640
DEFAULT_ADDRESS = "http://127.0.0.1:8200"


class AgentConfigError(ValueError):
    """The config cannot be used; the message names the file and the key."""


@dataclass(frozen=True, slots=True)
class ServerSettings:
    address: str = DEFAULT_ADDRESS
    ca_cert: str = ""
    tls_skip_verify: bool = False


@dataclass(frozen=True, slots=True)
class MethodSettings:
    type: str
    mount_path: str
    min_backoff: int = 1
    max_backoff: int = 300
    exit_on_err: bool = False
    # The method's own `config` map, handed to the plugin's login helper as k=v arguments.
    config: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FileSink:
    path: Path
    mode: int = DEFAULT_SINK_MODE


@dataclass(frozen=True, slots=True)
class AgentConfig:
    server: ServerSettings
    method: MethodSettings
    sinks: tuple[FileSink, ...]
    pid_file: str = ""
    exit_after_auth: bool = False


def load_agent_config(path: str | Path) -> AgentConfig:
    source = Path(path)
    try:
        text = source.read_text()
    except OSError as exc:
        raise AgentConfigError(f"cannot read {source}: {exc.strerror}") from None
    try:
        if source.suffix == ".toml":
            raw = tomllib.loads(text)
        else:
            raw = hcl.loads(_quote_octal_modes(text))
    except Exception as exc:  # pyhcl raises ValueError and its own lexer errors
        raise AgentConfigError(f"{source}: cannot parse: {exc}") from None
    try:
        return parse_agent_config(raw)
    except AgentConfigError as exc:
        raise AgentConfigError(f"{source}: {exc}") from None


def _quote_octal_modes(text: str) -> str:
    # HCL reads `mode = 0640` as octal, pyhcl as the decimal 640: keep the digits as a string.
    return re.sub(r"(\bmode\s*=\s*)(0[0-7]+)\b", r'\1"\2"', text)


def parse_agent_config(raw: dict[str, Any]) -> AgentConfig:
    _only(raw, "", {"pid_file", "exit_after_auth", "vault", "auto_auth"})
    if "auto_auth" not in raw:
        raise AgentConfigError("auto_auth is required")
    auto_auth = _table(raw["auto_auth"], "auto_auth")
    _only(auto_auth, "auto_auth", {"method", "sink", "sinks"})
    sinks = _sinks(auto_auth)
    if not sinks and not raw.get("exit_after_auth"):
        raise AgentConfigError('auto_auth: at least one sink "file" is needed')
    return AgentConfig(
        server=_server(_table(raw.get("vault", {}), "vault")),
        method=_method(auto_auth.get("method")),
        sinks=tuple(sinks),
        pid_file=_text(raw.get("pid_file", ""), "pid_file"),
        exit_after_auth=_bool(raw.get("exit_after_auth", False), "exit_after_auth"),
    )


def _server(raw: dict[str, Any]) -> ServerSettings:
    _only(raw, "vault", {"address", "ca_cert", "tls_skip_verify"})
    address = _text(raw.get("address", DEFAULT_ADDRESS), "vault.address").rstrip("/")
    if not address.startswith(("http://", "https://")):
        raise AgentConfigError(f"vault.address must start with http:// or https://: {address!r}")
    return ServerSettings(
        address,
        _text(raw.get("ca_cert", ""), "vault.ca_cert"),
        _bool(raw.get("tls_skip_verify", False), "vault.tls_skip_verify"),
    )


def _method(raw: Any) -> MethodSettings:
    if raw is None:
        raise AgentConfigError('auto_auth: a method block is required, e.g. method "alicloud"')
    block = _table(raw, "auto_auth.method")
    if "type" in block:
        type_ = _text(block["type"], "auto_auth.method.type")
        body = {k: v for k, v in block.items() if k != "type"}
    elif len(block) == 1:
        type_, body = next(iter(block.items()))
        body = _table(body, f'auto_auth.method "{type_}"')
    else:
        raise AgentConfigError("auto_auth: exactly one method block is supported")
    where = f'auto_auth.method "{type_}"'
    _only(body, where, {"mount_path", "min_backoff", "max_backoff", "exit_on_err", "config"})
    method_config = _table(body.get("config", {}), f"{where}.config")
    for key, value in method_config.items():
        if isinstance(value, dict | list) or value is None:
            raise AgentConfigError(f"{where}.config.{key} must be a single value")
    min_backoff = _duration(body.get("min_backoff", "1s"), f"{where}.min_backoff")
    max_backoff = _duration(body.get("max_backoff", "5m"), f"{where}.max_backoff")
    if min_backoff < 1 or min_backoff >= max_backoff:
        raise AgentConfigError(f"{where}: min_backoff must be at least 1s and below max_backoff")
    mount = _text(body.get("mount_path", f"auth/{type_}"), f"{where}.mount_path").strip("/")
    return MethodSettings(
        type=type_,
        mount_path=mount,
        min_backoff=min_backoff,
        max_backoff=max_backoff,
        exit_on_err=_bool(body.get("exit_on_err", False), f"{where}.exit_on_err"),
        config={k: _scalar_text(v) for k, v in method_config.items()},
    )


def _sinks(auto_auth: dict[str, Any]) -> list[FileSink]:
    found: list[tuple[str, dict[str, Any]]] = []
    blocks = auto_auth.get("sink", [])
    if "sinks" in auto_auth:
        wrapper = _table(auto_auth["sinks"], "auto_auth.sinks")
        _only(wrapper, "auto_auth.sinks", {"sink"})
        blocks = [*_as_list(blocks), *_as_list(wrapper.get("sink", []))]
    for block in _as_list(blocks):
        block = _table(block, "auto_auth.sink")
        if "type" in block:
            found.append(
                (
                    _text(block["type"], "auto_auth.sink.type"),
                    {k: v for k, v in block.items() if k != "type"},
                )
            )
            continue
        for type_, body in block.items():
            found += [(type_, _table(b, f'auto_auth.sink "{type_}"')) for b in _as_list(body)]
    return [_file_sink(type_, body) for type_, body in found]


def _file_sink(type_: str, body: dict[str, Any]) -> FileSink:
    where = f'auto_auth.sink "{type_}"'
    if type_ != "file":
        raise AgentConfigError(f'{where}: only sink "file" is supported')
    _only(body, where, {"config"})
    config = _table(body.get("config", {}), f"{where}.config")
    _only(config, f"{where}.config", {"path", "mode"})
    path = _text(config.get("path", ""), f"{where}.config.path")
    if not path:
        raise AgentConfigError(f"{where}.config.path is required")
    return FileSink(Path(path), _mode(config.get("mode", DEFAULT_SINK_MODE), f"{where}.config"))


def _mode(value: Any, where: str) -> int:
    if isinstance(value, str) and re.fullmatch(r"0?[0-7]{3}", value):
        mode = int(value, 8)
    elif isinstance(value, int) and not isinstance(value, bool):
        mode = value
    else:
        raise AgentConfigError(f"{where}.mode must be a file mode such as 0640, not {value!r}")
    if mode & ~0o777 or not mode & 0o600 == 0o600:
        raise AgentConfigError(
            f"{where}.mode {oct(mode)} is not usable: the owner must be "
            "able to read and write, and only permission bits are allowed"
        )
    return mode


# -- small checks ------------------------------------------------------------------------------


def _only(table: dict[str, Any], where: str, allowed: set[str]) -> None:
    for key in table:
        if key not in allowed:
            name = f"{where}.{key}" if where else key
            raise AgentConfigError(f"unknown or unsupported key {name}")


def _table(value: Any, where: str) -> dict[str, Any]:
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if not isinstance(value, dict):
        raise AgentConfigError(f"{where} must be a block")
    return value


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise AgentConfigError(f"{where} must be a string")
    return value


def _bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise AgentConfigError(f"{where} must be true or false")


def _duration(value: Any, where: str) -> int:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise AgentConfigError(f"{where}: {exc}") from None


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
