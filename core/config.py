"""The server's TOML configuration, validated by msgspec (unknown keys are refused by name).

Secrets may be written as literals, `{ env = "NAME" }` or `{ file = "path" }`; they are resolved
once at load time so the rest of the server only ever sees strings.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

import msgspec

from core.framework.fields import parse_duration

DEFAULT_ADDRESS = "127.0.0.1:8200"
DEFAULT_MAX_REQUEST_SIZE = 32 * 1024 * 1024
SYSTEM_DEFAULT_TTL = 768 * 3600  # Vault's 32 days


class ConfigError(Exception):
    """The configuration cannot be used; the message names the offending key."""


class SecretRef(msgspec.Struct, forbid_unknown_fields=True):
    env: str | None = None
    file: str | None = None


class ServerConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    address: str = DEFAULT_ADDRESS
    workers: int = 1
    tls_cert_file: str = ""
    tls_key_file: str = ""
    max_request_size: int = DEFAULT_MAX_REQUEST_SIZE
    # Seconds between sweeps of expired tokens (and their children) and used nonces.
    sweep_interval: int = 10


class StorageConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    backend: str = "sqlite"
    path: str = "data/wardgate.db"
    # "full" also survives power loss; "normal" survives a killed process only.
    synchronous: str = "full"


class TokenConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    default_ttl: int | str = SYSTEM_DEFAULT_TTL
    max_ttl: int | str = SYSTEM_DEFAULT_TTL
    # Key for the token hashes. Unset: a random key is generated and kept in storage.
    hmac_key: str | SecretRef | None = None


class LogConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    level: str = "info"
    format: str = "text"  # text | json
    requests: bool = False  # one line per request (never with tokens or bodies)


class InfisicalConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    # Serve Infisical's API under /api/v1/ (machine identities and their auth methods).
    enabled: bool = True
    # The auth mount serving each Infisical auth method, by its slug ("alicloud-auth" =
    # "alicloud"); a method not named here is served by its plugin's default mount; "" turns
    # the method off.
    mounts: dict[str, str] = msgspec.field(default_factory=dict)


class AuthMountConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    path: str
    type: str
    description: str = ""
    default_lease_ttl: int | str = 0
    max_lease_ttl: int | str = 0
    config: dict[str, Any] = msgspec.field(default_factory=dict)


class Config(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    server: ServerConfig = msgspec.field(default_factory=ServerConfig)
    storage: StorageConfig = msgspec.field(default_factory=StorageConfig)
    token: TokenConfig = msgspec.field(default_factory=TokenConfig)
    log: LogConfig = msgspec.field(default_factory=LogConfig)
    infisical: InfisicalConfig = msgspec.field(default_factory=InfisicalConfig)
    auth: list[AuthMountConfig] = msgspec.field(default_factory=list)

    @property
    def default_ttl(self) -> int:
        return duration(self.token.default_ttl, "token.default_ttl")

    @property
    def max_ttl(self) -> int:
        return duration(self.token.max_ttl, "token.max_ttl")


def duration(value: int | str, key: str) -> int:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise ConfigError(f"{key}: {exc}") from None


def resolve_secret(value: str | SecretRef | None, key: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if value.env:
        found = os.environ.get(value.env)
        if not found:
            raise ConfigError(f"{key}: environment variable {value.env} is not set")
        return found
    if value.file:
        try:
            return Path(value.file).read_text().strip()
        except OSError as exc:
            raise ConfigError(f"{key}: cannot read {value.file}: {exc.strerror}") from None
    raise ConfigError(f'{key}: give a literal, {{ env = "NAME" }} or {{ file = "path" }}')


def resolve_secrets_in(table: dict[str, Any], key: str) -> dict[str, Any]:
    """Resolve `{env=...}`/`{file=...}` values in a plugin's free-form config table."""
    out: dict[str, Any] = {}
    for name, value in table.items():
        if isinstance(value, dict) and set(value) <= {"env", "file"} and value:
            out[name] = resolve_secret(msgspec.convert(value, SecretRef), f"{key}.{name}")
        else:
            out[name] = value
    return out


_AT_KEY = re.compile(r"`\$\.(.+?)`")


def parse_config(text: str, *, source: str = "config") -> Config:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: invalid TOML: {exc}") from None
    try:
        config = msgspec.convert(raw, Config)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{source}: {_readable(str(exc))}") from None
    validate(config, source)
    return config


def _readable(message: str) -> str:
    # msgspec says "Object contains unknown field `x` - at `$.server`"; name the full key.
    unknown = re.match(r"Object contains unknown field `(.+?)`(?: - at `\$\.?(.*)`)?", message)
    if unknown:
        where = unknown.group(2)
        key = f"{where}.{unknown.group(1)}" if where else unknown.group(1)
        key = re.sub(r"\[\d+\]", "", key)
        return f"unknown key {key!r}"
    match = _AT_KEY.search(message)
    if match:
        return f"{match.group(1)}: {message[: message.rfind(' - at')]}"
    return message


def load_config(path: str | Path) -> Config:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    return parse_config(text, source=str(path))


def validate(config: Config, source: str) -> None:
    if config.server.workers < 1:
        raise ConfigError(f"{source}: server.workers must be at least 1")
    if config.server.max_request_size < 1024:
        raise ConfigError(f"{source}: server.max_request_size must be at least 1024 bytes")
    if bool(config.server.tls_cert_file) != bool(config.server.tls_key_file):
        raise ConfigError(f"{source}: server.tls_cert_file and tls_key_file go together")
    if config.storage.backend not in ("sqlite", "memory"):
        raise ConfigError(
            f'{source}: storage.backend must be "sqlite" or "memory", '
            f"not {config.storage.backend!r}"
        )
    if config.storage.synchronous not in ("full", "normal"):
        raise ConfigError(f'{source}: storage.synchronous must be "full" or "normal"')
    if config.log.level.lower() not in ("debug", "info", "warning", "error"):
        raise ConfigError(f"{source}: log.level must be debug, info, warning or error")
    if config.log.format not in ("text", "json"):
        raise ConfigError(f'{source}: log.format must be "text" or "json"')
    if config.default_ttl > config.max_ttl:
        raise ConfigError(f"{source}: token.default_ttl is greater than token.max_ttl")
    seen: set[str] = set()
    for index, mount in enumerate(config.auth):
        where = f"auth[{index}]"
        path = normalize_mount_path(mount.path)
        if not path or path == "token/":
            raise ConfigError(f"{source}: {where}.path {mount.path!r} is reserved or empty")
        if path in seen:
            raise ConfigError(f"{source}: {where}.path {mount.path!r} is defined twice")
        seen.add(path)
        default = duration(mount.default_lease_ttl, f"{where}.default_lease_ttl")
        maximum = duration(mount.max_lease_ttl, f"{where}.max_lease_ttl")
        if maximum and default > maximum:
            raise ConfigError(f"{source}: {where}.default_lease_ttl is greater than max_lease_ttl")


def normalize_mount_path(path: str) -> str:
    """`/team/a/alicloud` -> `team/a/alicloud/` (Vault keeps mount paths with a trailing slash)."""
    cleaned = path.strip().strip("/")
    return cleaned + "/" if cleaned else ""
