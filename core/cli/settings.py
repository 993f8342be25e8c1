"""Where a client command connects and how it prints: flags first, then WARDGATE_* and VAULT_*
variables, then defaults. The token comes from WARDGATE_TOKEN, VAULT_TOKEN or the file
~/.wardgate-token that `wardgate login` writes (0600)."""

from __future__ import annotations

import os
import ssl
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from core.cli.errors import UsageError
from core.cli.flags import Parsed, parse_bool

DEFAULT_ADDRESS = "http://127.0.0.1:8200"
TOKEN_FILE = ".wardgate-token"
FORMATS = ("table", "json", "yaml")


@dataclass(frozen=True, slots=True)
class Settings:
    address: str
    token: str | None
    format: str
    field: str | None
    verify: bool | ssl.SSLContext


def env_value(env: Mapping[str, str], name: str) -> str | None:
    """WARDGATE_<name>, else VAULT_<name> (empty counts as unset, as in Vault)."""
    return env.get(f"WARDGATE_{name}") or env.get(f"VAULT_{name}") or None


def settings_from(parsed: Parsed, env: Mapping[str, str] = os.environ) -> Settings:
    address = (parsed.text("address") or env_value(env, "ADDR") or DEFAULT_ADDRESS).rstrip("/")
    if not address.startswith(("http://", "https://")):
        raise UsageError(f"address {address!r} must start with http:// or https://")
    fmt = (parsed.text("format") or env_value(env, "FORMAT") or "table").lower()
    if fmt not in FORMATS:
        raise UsageError(f"-format must be table, json or yaml, not {fmt!r}")
    return Settings(
        address,
        env_value(env, "TOKEN") or read_token_file(),
        fmt,
        parsed.text("field"),
        tls_verify(parsed, env),
    )


def tls_verify(parsed: Parsed, env: Mapping[str, str]) -> bool | ssl.SSLContext:
    if "tls-skip-verify" in parsed.flags:
        skip = parsed.flag("tls-skip-verify")
    else:
        name = "WARDGATE_SKIP_VERIFY" if env.get("WARDGATE_SKIP_VERIFY") else "VAULT_SKIP_VERIFY"
        skip = parse_bool(env[name], name) if env.get(name) else False
    if skip:
        return False
    ca_cert = parsed.text("ca-cert") or env_value(env, "CACERT")
    if not ca_cert:
        return True
    try:
        return ssl.create_default_context(cafile=ca_cert)
    except (OSError, ssl.SSLError) as exc:
        raise UsageError(f"cannot use the CA certificate {ca_cert}: {exc}") from None


def token_file() -> Path:
    return Path.home() / TOKEN_FILE


def read_token_file() -> str | None:
    try:
        return token_file().read_text().strip() or None
    except OSError:
        return None


def store_token(token: str) -> Path:
    """Write ~/.wardgate-token readable by its owner only (mkstemp creates it 0600)."""
    target = token_file()
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f"{TOKEN_FILE}.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(token)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
