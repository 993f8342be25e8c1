"""The server's TOML configuration, validated by msgspec (unknown keys are refused by name).

Secrets may be written as literals, `{ env = "NAME" }` or `{ file = "path" }`; they are resolved
once at load time so the rest of the server only ever sees strings.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from pathlib import Path
from typing import Any

import msgspec

from core.framework.fields import parse_duration

DEFAULT_ADDRESS = "127.0.0.1:8200"
DEFAULT_MAX_REQUEST_SIZE = 32 * 1024 * 1024
# Paths that need no token (logins) read at most this much: an anonymous caller cannot make
# the server read or decode a large body.
DEFAULT_MAX_UNAUTHENTICATED_REQUEST_SIZE = 64 * 1024
SYSTEM_DEFAULT_TTL = 768 * 3600  # Vault's 32 days


class ConfigError(Exception):
    """The configuration cannot be used; the message names the offending key."""


class SecretRef(msgspec.Struct, forbid_unknown_fields=True):
    env: str | None = None
    file: str | None = None


class ServerConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    address: str = DEFAULT_ADDRESS
    # The HTTP server running the (one, ASGI) app: "granian" (Rust) or "hypercorn" (Python).
    http: str = "granian"
    # Processes sharing the socket and the database; 0 or "auto": one per CPU core.
    workers: int | str = 1
    tls_cert_file: str = ""
    tls_key_file: str = ""
    max_request_size: int = DEFAULT_MAX_REQUEST_SIZE
    max_unauthenticated_request_size: int = DEFAULT_MAX_UNAUTHENTICATED_REQUEST_SIZE
    # Seconds between sweeps of expired tokens (and their children) and used nonces.
    sweep_interval: int = 10
    # Peers (CIDRs) whose X-Forwarded-For is believed for the client address.
    trusted_proxies: list[str] = msgspec.field(default_factory=list)
    # Vault's listener limits: the request head, the whole request, an idle keep-alive.
    http_read_header_timeout: int | str = 10
    http_read_timeout: int | str = 30
    http_idle_timeout: int | str = 300
    # Open connections per worker; more wait in the kernel's accept queue.
    max_connections: int = 4096

    @property
    def worker_count(self) -> int:
        """`workers` resolved: 0 or "auto" is one per CPU core."""
        if self.workers in (0, "auto"):
            return os.cpu_count() or 1
        assert isinstance(self.workers, int)
        return self.workers

    @property
    def host_port(self) -> tuple[str, int]:
        """`address` split (checked by `validate`); IPv6 hosts without brackets."""
        host, port = split_address(self.address)
        return host, port

    # Vault's server option: audit devices may take a `prefix` (CVE-2025-6000: off by default).
    allow_audit_log_prefixing: bool = False


class StorageConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    backend: str = "sqlite"  # sqlite | memory | postgresql
    path: str = "data/wardgate.db"
    # "full" also survives power loss; "normal" survives a killed process only.
    synchronous: str = "full"
    # postgresql: the DSN (may hold a password, so it may be a secret reference) and the
    # connection pool of each server process.
    dsn: str | SecretRef | None = None
    pool_min: int = 2
    pool_max: int = 8
    connect_timeout: int | str = 5
    statement_timeout: int | str = 5


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


class TelemetryConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    # sys/metrics without a token (Vault's listener option of the same name).
    unauthenticated_metrics_access: bool = False
    # "0" turns the Prometheus format off (400), as in Vault; any other value keeps it on
    # (wardgate's counters live as long as the server process, whatever the duration).
    prometheus_retention_time: int | str = "24h"
    # Where worker processes share their counts (prometheus_client's multiprocess directory;
    # emptied at start). Empty: $PROMETHEUS_MULTIPROC_DIR, else a new temporary directory.
    multiprocess_dir: str = ""


class AuditDeviceConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    path: str
    type: str
    description: str = ""
    options: dict[str, str | bool | int] = msgspec.field(default_factory=dict)


class Config(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    server: ServerConfig = msgspec.field(default_factory=ServerConfig)
    storage: StorageConfig = msgspec.field(default_factory=StorageConfig)
    token: TokenConfig = msgspec.field(default_factory=TokenConfig)
    log: LogConfig = msgspec.field(default_factory=LogConfig)
    infisical: InfisicalConfig = msgspec.field(default_factory=InfisicalConfig)
    auth: list[AuthMountConfig] = msgspec.field(default_factory=list)
    audit: list[AuditDeviceConfig] = msgspec.field(default_factory=list)
    telemetry: TelemetryConfig = msgspec.field(default_factory=TelemetryConfig)

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


def split_address(address: str) -> tuple[str, int]:
    """`host:port` or `[v6]:port` -> (host, port); ValueError naming what is wrong. A missing
    port is an error, as in Vault (Go's listener refuses it), never a silent default."""
    host, sep, port_text = address.strip().rpartition(":")
    if not sep or not host:
        raise ValueError(f"{address!r} has no port (write host:port, e.g. 127.0.0.1:8200)")
    if host.startswith("["):
        if not host.endswith("]"):
            raise ValueError(f"{address!r}: unbalanced [ in an IPv6 address")
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"{address!r}: write an IPv6 address in brackets, e.g. [::1]:8200")
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"{address!r}: the port must be a number from 1 to 65535")
    return host, int(port_text)


def validate(config: Config, source: str) -> None:
    validate_server(config.server, source)
    if config.server.max_request_size < 1024:
        raise ConfigError(f"{source}: server.max_request_size must be at least 1024 bytes")
    if not config.server.max_unauthenticated_request_size >= 1024:
        raise ConfigError(
            f"{source}: server.max_unauthenticated_request_size must be at least 1024 bytes"
        )
    if bool(config.server.tls_cert_file) != bool(config.server.tls_key_file):
        raise ConfigError(f"{source}: server.tls_cert_file and tls_key_file go together")
    if config.storage.backend not in ("sqlite", "memory", "postgresql"):
        raise ConfigError(
            f'{source}: storage.backend must be "sqlite", "memory" or "postgresql", '
            f"not {config.storage.backend!r}"
        )
    validate_postgresql(config.storage, source)
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
        if path.split("/")[0] == "token":
            raise ConfigError(f"{source}: {where}.path {mount.path!r} is reserved")
        problem = mount_path_problem(path)
        if problem:
            raise ConfigError(f"{source}: {where}.path {mount.path!r}: {problem}")
        if path in seen:
            raise ConfigError(f"{source}: {where}.path {mount.path!r} is defined twice")
        seen.add(path)
        default = duration(mount.default_lease_ttl, f"{where}.default_lease_ttl")
        maximum = duration(mount.max_lease_ttl, f"{where}.max_lease_ttl")
        if maximum and default > maximum:
            raise ConfigError(f"{source}: {where}.default_lease_ttl is greater than max_lease_ttl")
    audit_paths: set[str] = set()
    for index, device in enumerate(config.audit):
        path = device.path.strip("/")
        if not path or path in audit_paths:
            raise ConfigError(f"{source}: audit[{index}].path {device.path!r} is empty or repeated")
        audit_paths.add(path)


def validate_server(server: ServerConfig, source: str) -> None:
    try:
        split_address(server.address)
    except ValueError as exc:
        raise ConfigError(f"{source}: server.address {exc}") from None
    if server.http not in ("granian", "hypercorn"):
        raise ConfigError(f'{source}: server.http must be "granian" or "hypercorn"')
    if isinstance(server.workers, str) and server.workers != "auto":
        raise ConfigError(f'{source}: server.workers must be a number, 0 or "auto"')
    if isinstance(server.workers, int) and server.workers < 0:
        raise ConfigError(
            f'{source}: server.workers must be at least 1 (0 or "auto": one per core)'
        )
    for key in ("http_read_header_timeout", "http_read_timeout", "http_idle_timeout"):
        if duration(getattr(server, key), f"server.{key}") < 1:
            raise ConfigError(f"{source}: server.{key} must be at least 1 second")
    if server.max_connections < 1:
        raise ConfigError(f"{source}: server.max_connections must be at least 1")
    for cidr in server.trusted_proxies:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise ConfigError(
                f"{source}: server.trusted_proxies: {cidr!r} is not an address or CIDR"
            ) from None


def validate_postgresql(storage: StorageConfig, source: str) -> None:
    if storage.backend == "postgresql" and not storage.dsn:
        raise ConfigError(
            f'{source}: storage.dsn is required with backend = "postgresql" '
            '(e.g. "postgresql://wardgate@db.example:5432/wardgate")'
        )
    if not 0 <= storage.pool_min <= storage.pool_max:
        raise ConfigError(f"{source}: storage.pool_min must be between 0 and storage.pool_max")
    if storage.pool_max < 2:
        # The sweeper holds one connection for its lock while it works through another.
        raise ConfigError(f"{source}: storage.pool_max must be at least 2")
    for key in ("connect_timeout", "statement_timeout"):
        if duration(getattr(storage, key), f"storage.{key}") < 1:
            raise ConfigError(f"{source}: storage.{key} must be at least 1 second")


def normalize_mount_path(path: str) -> str:
    """`/team/a/alicloud` -> `team/a/alicloud/` (Vault keeps mount paths with a trailing slash)."""
    cleaned = path.strip().strip("/")
    return cleaned + "/" if cleaned else ""


# A mount path: segments of letters, digits and `- _ . ~ @ :` (printable ASCII that needs no
# escaping in a URL and means nothing to the ACL's `*`/`+`), at most 8 segments of 1-64
# characters, no `.` or `..`. (`token/` is the token store's: enabling at or under it is the
# mount table's conflict, with Vault's message.)
_MOUNT_SEGMENT = re.compile(r"[A-Za-z0-9._~@:-]{1,64}")


def mount_path_problem(path: str) -> str:
    """Why a normalised mount path (`team/a/alicloud/`) cannot be used; "" if it can."""
    if not path:
        return "a mount path cannot be empty"
    segments = path.rstrip("/").split("/")
    if len(segments) > 8:
        return "a mount path has at most 8 segments"
    for segment in segments:
        if segment in (".", "..") or not _MOUNT_SEGMENT.fullmatch(segment):
            return (
                "each segment of a mount path is 1-64 of the characters A-Z a-z 0-9 - _ . ~ @ : "
                "(and not . or ..)"
            )
    return ""
