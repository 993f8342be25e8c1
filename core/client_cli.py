"""The client commands of `wardgate`: status, login, read, write, list, delete and token.

They follow the Vault CLI: the same verbs, one-dash flags (two dashes work too), table or JSON
output, `-field=` for scripts, exit code 1 for usage errors and 2 for errors from the server or
the network. The address comes from -address, WARDGATE_ADDR or VAULT_ADDR; the token from
WARDGATE_TOKEN, VAULT_TOKEN or the file ~/.wardgate-token that `wardgate login` writes (0600).
Tokens are never part of an error message.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import sys
import tempfile
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx

DEFAULT_ADDRESS = "http://127.0.0.1:8200"
TOKEN_FILE = ".wardgate-token"
EXIT_USAGE = 1
EXIT_ERROR = 2
TIMEOUT = httpx.Timeout(60.0, connect=10.0)

FlagKind = Literal["bool", "str", "list"]
FlagValue = str | bool | list[str]


class UsageError(Exception):
    """The command line is wrong (exit 1)."""


class CommandError(Exception):
    """The server or the network said no (exit 2); the message is printed as is."""


class HelpRequested(Exception):
    pass


# -- flags -------------------------------------------------------------------------------------

COMMON: dict[str, FlagKind] = {
    "address": "str",
    "format": "str",
    "ca-cert": "str",
    "tls-skip-verify": "bool",
}
FIELD: dict[str, FlagKind] = {**COMMON, "field": "str"}


@dataclass(frozen=True, slots=True)
class Parsed:
    flags: dict[str, FlagValue]
    args: list[str]

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self.flags.get(name, default)
        return value if isinstance(value, str) or value is None else default

    def flag(self, name: str) -> bool:
        return self.flags.get(name) is True

    def many(self, name: str) -> list[str]:
        value = self.flags.get(name)
        return value if isinstance(value, list) else []


def parse_flags(argv: list[str], spec: Mapping[str, FlagKind]) -> Parsed:
    """Vault-style flags (`-name=value`, `-name value`, `-bool`) anywhere; `--` ends them."""
    flags: dict[str, FlagValue] = {}
    args: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            args.extend(argv[i:])
            break
        if arg == "-" or not arg.startswith("-"):
            args.append(arg)
            continue
        name, has_value, value = (
            arg[2:].partition("=") if arg.startswith("--") else (arg[1:].partition("="))
        )
        if name in ("h", "help"):
            raise HelpRequested()
        kind = spec.get(name)
        if kind is None:
            raise UsageError(f"flag provided but not defined: -{name}")
        if kind == "bool":
            flags[name] = _parse_bool(name, value) if has_value else True
            continue
        if not has_value:
            if i >= len(argv):
                raise UsageError(f"flag needs an argument: -{name}")
            value, i = argv[i], i + 1
        if kind == "list":
            existing = flags.setdefault(name, [])
            assert isinstance(existing, list)
            existing.append(value)
        else:
            flags[name] = value
    return Parsed(flags, args)


def _parse_bool(name: str, value: str) -> bool:
    lowered = value.lower()
    if lowered in ("1", "t", "true", "yes"):
        return True
    if lowered in ("0", "f", "false", "no"):
        return False
    raise UsageError(f"invalid boolean value {value!r} for -{name}")


def parse_data(
    args: list[str], stdin: Callable[[], str] = lambda: sys.stdin.read()
) -> dict[str, Any]:
    """`k=v` pairs (`k=@file` reads a file, `k=-` stdin, a repeated key makes a list); a lone
    `-` or `@file.json` is a whole JSON object."""
    data: dict[str, Any] = {}
    stdin_used = False
    for arg in args:
        if arg == "-" or (arg.startswith("@") and "=" not in arg):
            if arg == "-" and stdin_used:
                raise UsageError("stdin can only be read once")
            stdin_used = stdin_used or arg == "-"
            text = stdin() if arg == "-" else _read_file(arg[1:])
            try:
                loaded = json.loads(text)
            except ValueError as exc:
                raise UsageError(f"invalid JSON in {arg}: {exc}") from None
            if not isinstance(loaded, dict):
                raise UsageError(f"{arg} must hold a JSON object")
            data.update(loaded)
            continue
        key, has_value, value = arg.partition("=")
        if not has_value or not key:
            raise UsageError(f"invalid key/value pair {arg!r}: expected k=v")
        if value == "-":
            if stdin_used:
                raise UsageError("stdin can only be read once")
            stdin_used, value = True, stdin()
        elif value.startswith("@"):
            value = _read_file(value[1:])
        if key not in data:
            data[key] = value
        elif isinstance(data[key], list):
            data[key].append(value)
        else:
            data[key] = [data[key], value]
    return data


def _read_file(name: str) -> str:
    try:
        return Path(name).read_text()
    except OSError as exc:
        raise UsageError(f"cannot read {name}: {exc.strerror}") from None


# -- settings, token file, HTTP ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Settings:
    address: str
    token: str | None
    format: str
    field: str | None
    verify: bool | ssl.SSLContext


def settings_from(parsed: Parsed, env: Mapping[str, str] = os.environ) -> Settings:
    address = parsed.text("address") or env.get("WARDGATE_ADDR") or env.get("VAULT_ADDR")
    address = (address or DEFAULT_ADDRESS).rstrip("/")
    if not address.startswith(("http://", "https://")):
        raise UsageError(f"address {address!r} must start with http:// or https://")
    fmt = parsed.text("format") or env.get("WARDGATE_FORMAT") or env.get("VAULT_FORMAT") or "table"
    if fmt not in ("table", "json"):
        raise UsageError(f"-format must be table or json, not {fmt!r}")
    ca_cert = parsed.text("ca-cert") or env.get("WARDGATE_CACERT") or env.get("VAULT_CACERT")
    verify: bool | ssl.SSLContext = True
    if parsed.flag("tls-skip-verify"):
        verify = False
    elif ca_cert:
        try:
            verify = ssl.create_default_context(cafile=ca_cert)
        except (OSError, ssl.SSLError) as exc:
            raise UsageError(f"cannot use the CA certificate {ca_cert}: {exc}") from None
    token = env.get("WARDGATE_TOKEN") or env.get("VAULT_TOKEN") or read_token_file()
    return Settings(address, token, fmt, parsed.text("field"), verify)


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


def clean_path(path: str) -> str:
    """`/v1/sys/auth`, `v1/sys/auth` and `/sys/auth` all mean `sys/auth`."""
    path = path.lstrip("/")
    return path[3:] if path.startswith("v1/") else path


class Client:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._http = httpx.Client(verify=settings.verify, timeout=TIMEOUT)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def call(
        self,
        method: str,
        path: str,
        what: str,
        *,
        json_body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        token: str | None = None,
        anonymous: bool = False,
        any_status: bool = False,
    ) -> tuple[int, dict[str, Any] | None]:
        """One request; returns (status, JSON body or None) for 2xx and 404 (any status with
        `any_status`); raises CommandError otherwise."""
        sent = token or (None if anonymous else self.settings.token)
        headers = {"X-Vault-Token": sent} if sent else {}
        url = f"{self.settings.address}/v1/{path}"
        try:
            response = self._http.request(
                method, url, json=json_body, params=params, headers=headers
            )
        except httpx.ConnectError as exc:
            raise CommandError(
                f"Error {what} {path}: cannot connect to the server at "
                f"{self.settings.address} ({_reason(exc)}); is it running? "
                "Set WARDGATE_ADDR or -address."
            ) from None
        except httpx.TimeoutException:
            raise CommandError(
                f"Error {what} {path}: no answer from {self.settings.address} in time"
            ) from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise CommandError(
                f"Error {what} {path}: the request to {self.settings.address} failed "
                f"({_reason(exc)})"
            ) from None
        body = _json_object(response)
        errors = body.get("errors") if body else None
        status = response.status_code
        if status < 400 or (status == 404 and not errors) or (any_status and not errors):
            return status, body
        joined = "; ".join(str(e) for e in errors) if isinstance(errors, list) else ""
        message = f"Error {what} {path}: {status} {joined or response.reason_phrase}"
        given = [str(d.get("token") or "") for d in (json_body or {}, params or {})]
        raise CommandError(redact(message.rstrip(), [sent or "", *given]))


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text.split("\n")[0]


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    if not response.content.strip():
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<redacted>")
    return text


# -- output ------------------------------------------------------------------------------------


def go_value(value: Any) -> str:
    """A value as Vault's table shows it (Go's %v of decoded JSON)."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + " ".join(go_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_value(value[k])}" for k in sorted(value)) + "]"
    return str(value)


def human_duration(seconds: int) -> str:
    """Vault's humanDuration: 3600 -> 1h, 5400 -> 1h30m, 90 -> 1m30s."""
    if seconds == 0:
        return "0s"
    sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        text = f"{hours}h" + (f"{minutes}m" if minutes else "") + (f"{secs}s" if secs else "")
    elif minutes:
        text = f"{minutes}m" + (f"{secs}s" if secs else "")
    else:
        text = f"{secs}s"
    return sign + text


def field_text(key: str, value: Any) -> str:
    looks_like_ttl = key in ("ttl", "period") or key.endswith(("_ttl", "_period"))
    if looks_like_ttl and isinstance(value, int) and not isinstance(value, bool):
        return human_duration(value)
    return go_value(value)


def secret_rows(body: Mapping[str, Any]) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    lease = body.get("lease_duration")
    if isinstance(lease, int) and lease > 0:
        if body.get("lease_id"):
            rows += [
                ("lease_id", str(body["lease_id"])),
                ("lease_duration", human_duration(lease)),
                ("lease_renewable", go_value(body.get("renewable"))),
            ]
        else:
            rows.append(("refresh_interval", human_duration(lease)))
    auth = body.get("auth")
    if isinstance(auth, dict):
        rows += [
            (k, _quoted(v) if k in _POLICY_KEYS else go_value(v)) for k, v in auth_fields(auth)
        ]
    data = body.get("data")
    if isinstance(data, dict):
        rows += [(k, field_text(k, data[k])) for k in sorted(data)]
    return rows


_POLICY_KEYS = frozenset({"token_policies", "identity_policies", "policies"})


def _quoted(values: Any) -> str:
    """Go's %q of a []string, as Vault shows policies: ["default" "dev"]."""
    return "[" + " ".join(json.dumps(str(v)) for v in values or []) + "]"


def auth_fields(auth: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The auth block under Vault's CLI names (token, token_accessor, token_duration, ...)."""
    duration = auth.get("lease_duration") or 0
    fields: list[tuple[str, Any]] = [
        ("token", auth.get("client_token", "")),
        ("token_accessor", auth.get("accessor", "")),
        ("token_duration", human_duration(duration) if duration else "∞"),
        ("token_renewable", auth.get("renewable", False)),
        ("token_policies", auth.get("token_policies") or []),
        ("identity_policies", auth.get("identity_policies") or []),
        ("policies", auth.get("policies") or []),
    ]
    metadata = auth.get("metadata") or {}
    fields += [(f"token_meta_{k}", metadata[k]) for k in sorted(metadata)]
    return fields


def print_table(rows: list[tuple[str, str]], header: tuple[str, str] = ("Key", "Value")) -> None:
    rows = [header, ("-" * len(header[0]), "-" * len(header[1])), *rows]
    width = max(len(key) for key, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}    {value if value != '' else 'n/a'}".rstrip())


def print_warnings(body: Mapping[str, Any] | None) -> None:
    warnings = (body or {}).get("warnings") or []
    if warnings:
        lines = "\n".join(f"  * {w}" for w in warnings)
        print(f"WARNING! The following warnings were returned:\n\n{lines}\n", file=sys.stderr)


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


def output_secret(settings: Settings, body: dict[str, Any]) -> int:
    if settings.field:
        return print_field(body, settings.field)
    if settings.format == "json":
        print_json(body)
        return 0
    print_warnings(body)
    print_table(secret_rows(body))
    return 0


def print_field(body: Mapping[str, Any], name: str) -> int:
    data = body.get("data")
    candidates: dict[str, Any] = dict(auth_fields(body["auth"])) if body.get("auth") else {}
    if isinstance(data, dict):
        candidates.update(data)
    if name not in candidates:
        print(f'Field "{name}" not present in the response', file=sys.stderr)
        return EXIT_USAGE
    value = candidates[name]
    print(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
    return 0


# -- commands ----------------------------------------------------------------------------------


def cmd_status(p: Parsed, s: Settings) -> int:
    with Client(s) as client:
        status, body = client.call("GET", "sys/health", "reading", anonymous=True, any_status=True)
    if s.format == "json":
        print_json(body)
    else:
        print_table([(k, field_text(k, v)) for k, v in (body or {}).items()])
    return 0 if status == 200 else EXIT_ERROR


def cmd_read(p: Parsed, s: Settings) -> int:
    path = _one_path(p, "read", extra_ok=True)
    with Client(s) as client:
        status, body = client.call("GET", path, "reading", params=parse_data(p.args[1:]) or None)
    if status == 404 or body is None:
        print(f"No value found at {path}", file=sys.stderr)
        return EXIT_ERROR
    return output_secret(s, body)


def cmd_write(p: Parsed, s: Settings) -> int:
    path = _one_path(p, "write", extra_ok=True)
    data = parse_data(p.args[1:])
    with Client(s) as client:
        _, body = client.call("POST", path, "writing", json_body=data)
    if body is None or (body.get("data") is None and body.get("auth") is None):
        print_warnings(body)
        if s.field:
            print(f'Field "{s.field}" not present in the response', file=sys.stderr)
            return EXIT_USAGE
        print(f"Success! Data written to: {path}")
        return 0
    return output_secret(s, body)


def cmd_list(p: Parsed, s: Settings) -> int:
    path = _one_path(p, "list")
    with Client(s) as client:
        status, body = client.call("LIST", path, "listing")
    data = (body or {}).get("data")
    keys = data.get("keys") if isinstance(data, dict) else None
    if status == 404 or not isinstance(keys, list):
        print(f"No value found at {path}", file=sys.stderr)
        return EXIT_ERROR
    if s.format == "json":
        print_json(keys)  # as `vault list -format=json`: the keys only
    else:
        print_warnings(body)
        print("\n".join(["Keys", "----", *map(str, keys)]))
    return 0


def cmd_delete(p: Parsed, s: Settings) -> int:
    path = _one_path(p, "delete", extra_ok=True)
    with Client(s) as client:
        _, body = client.call("DELETE", path, "deleting", params=parse_data(p.args[1:]) or None)
    print_warnings(body)
    print(f"Success! Data deleted (if it existed) at: {path}")
    return 0


def _one_path(p: Parsed, command: str, *, extra_ok: bool = False) -> str:
    if not p.args or (len(p.args) > 1 and not extra_ok):
        raise UsageError(f"{command} takes one PATH" + (" and k=v arguments" if extra_ok else ""))
    return clean_path(p.args[0])


TOKEN_CREATE: dict[str, FlagKind] = {
    **FIELD,
    "policy": "list",
    "ttl": "str",
    "period": "str",
    "num-uses": "str",
    "use-limit": "str",
    "orphan": "bool",
    "display-name": "str",
    "type": "str",
    "explicit-max-ttl": "str",
    "no-default-policy": "bool",
    "metadata": "list",
    "renewable": "bool",
    "id": "str",
}


def token_create_body(p: Parsed) -> dict[str, Any]:
    if p.args:
        raise UsageError("token create takes no arguments, only flags")
    body: dict[str, Any] = {}
    if p.many("policy"):
        body["policies"] = p.many("policy")
    for flag in ("ttl", "period", "explicit-max-ttl", "display-name", "type", "id"):
        if p.text(flag) is not None:
            body[flag.replace("-", "_")] = p.text(flag)
    uses = p.text("num-uses") or p.text("use-limit")
    if uses is not None:
        if not uses.isdigit():
            raise UsageError(f"-num-uses must be a whole number, not {uses!r}")
        body["num_uses"] = int(uses)
    if p.flag("no-default-policy"):
        body["no_default_policy"] = True
    if "renewable" in p.flags:
        body["renewable"] = p.flag("renewable")
    meta = parse_data(p.many("metadata"), stdin=lambda: "")
    if meta:
        body["meta"] = {k: str(v) for k, v in meta.items()}
    return body


def cmd_token(argv: list[str]) -> int:
    if argv and argv[0] in ("-h", "-help", "--help"):
        raise HelpRequested()
    if not argv or argv[0] not in TOKEN_SUBCOMMANDS:
        raise UsageError("give a subcommand: create, lookup, renew or revoke")
    flags, run = TOKEN_SUBCOMMANDS[argv[0]]
    parsed = parse_flags(argv[1:], flags)
    return run(parsed, settings_from(parsed))


def token_create(p: Parsed, s: Settings) -> int:
    body = token_create_body(p)
    path = "auth/token/create-orphan" if p.flag("orphan") else "auth/token/create"
    with Client(s) as client:
        _, response = client.call("POST", path, "writing", json_body=body)
    return output_secret(s, response or {})


def _token_target(p: Parsed, command: str) -> str | None:
    if len(p.args) > 1:
        raise UsageError(f"token {command} takes at most one TOKEN (or accessor)")
    if p.flag("accessor") and not p.args:
        raise UsageError(f"token {command} -accessor needs an ACCESSOR argument")
    return p.args[0] if p.args else None


def token_lookup(p: Parsed, s: Settings) -> int:
    target = _token_target(p, "lookup")
    with Client(s) as client:
        if target is None:
            _, body = client.call("GET", "auth/token/lookup-self", "looking up")
        elif p.flag("accessor"):
            _, body = client.call(
                "POST", "auth/token/lookup-accessor", "looking up", json_body={"accessor": target}
            )
        else:
            _, body = client.call(
                "POST", "auth/token/lookup", "looking up", json_body={"token": target}
            )
    return output_secret(s, body or {})


def token_renew(p: Parsed, s: Settings) -> int:
    target = _token_target(p, "renew")
    body: dict[str, Any] = {"increment": p.text("increment")} if p.text("increment") else {}
    if target is None:
        path = "auth/token/renew-self"
    elif p.flag("accessor"):
        path, body["accessor"] = "auth/token/renew-accessor", target
    else:
        path, body["token"] = "auth/token/renew", target
    with Client(s) as client:
        _, response = client.call("POST", path, "renewing", json_body=body)
    return output_secret(s, response or {})


def token_revoke(p: Parsed, s: Settings) -> int:
    target = _token_target(p, "revoke")
    mode = p.text("mode", "")
    if mode not in ("", "orphan"):
        raise UsageError(f"-mode must be orphan (or left out), not {mode!r}")
    if p.flag("self") == (target is not None):
        raise UsageError("token revoke needs a TOKEN or -self (not both)")
    if mode and p.flag("accessor"):
        raise UsageError("-mode=orphan cannot be used with -accessor")
    if p.flag("self"):
        path, body = "auth/token/revoke-self", {}
    elif p.flag("accessor"):
        path, body = "auth/token/revoke-accessor", {"accessor": target}
    else:
        path = "auth/token/revoke-orphan" if mode else "auth/token/revoke"
        body = {"token": target}
    with Client(s) as client:
        client.call("POST", path, "revoking", json_body=body)
    print("Success! Revoked token (if it existed)")
    return 0


TOKEN_SUBCOMMANDS: dict[str, tuple[dict[str, FlagKind], Callable[[Parsed, Settings], int]]] = {
    "create": (TOKEN_CREATE, token_create),
    "lookup": ({**FIELD, "accessor": "bool"}, token_lookup),
    "renew": ({**FIELD, "accessor": "bool", "increment": "str"}, token_renew),
    "revoke": ({**COMMON, "accessor": "bool", "self": "bool", "mode": "str"}, token_revoke),
}

LOGIN: dict[str, FlagKind] = {
    **FIELD,
    "method": "str",
    "path": "str",
    "print-payload": "bool",
    "no-store": "bool",
}


def cmd_login(p: Parsed, s: Settings) -> int:
    method = p.text("method") or "token"
    if method == "token":
        return _login_with_token(p, s)
    args = parse_data(p.args)
    # `mount=` as Vault's CLI handlers take it; -path wins; default: the method's name.
    mount_arg = args.pop("mount", None)
    body = _login_body(method, args)
    if p.flag("print-payload"):
        print_json(body)
        return 0
    mount = str(p.text("path") or mount_arg or method).strip("/")
    with Client(s) as client:
        _, response = client.call(
            "POST", f"auth/{mount}/login", "logging in at", json_body=body, anonymous=True
        )
    auth = (response or {}).get("auth")
    if not isinstance(auth, dict) or not auth.get("client_token"):
        raise CommandError(f"Error logging in at auth/{mount}/login: no token was returned")
    return _finish_login(p, s, response or {}, str(auth["client_token"]))


def _login_body(method: str, args: dict[str, Any]) -> dict[str, Any]:
    from core.registry import default_registry

    spec = default_registry().get(method)
    if spec is None or spec.login is None:
        return args  # a method this client has no helper for: send the k=v pairs as they are
    if any(not isinstance(v, str) for v in args.values()):
        raise UsageError("each login argument may be given once")
    try:
        return asyncio.run(_await(spec.login({k: str(v) for k, v in args.items()})))
    except ValueError as exc:
        raise UsageError(f"login -method={method}: {exc}") from None


async def _await(pending: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    return await pending


def _login_with_token(p: Parsed, s: Settings) -> int:
    if len(p.args) != 1:
        raise UsageError("login -method=token takes one TOKEN (or token=TOKEN, or - for stdin)")
    token = p.args[0].removeprefix("token=")
    if token == "-":
        token = sys.stdin.read().strip()
    if not token:
        raise UsageError("login -method=token: the token is empty")
    with Client(s) as client:
        _, body = client.call("GET", "auth/token/lookup-self", "looking up", token=token)
    data = (body or {}).get("data") or {}
    auth = {
        "client_token": token,
        "accessor": data.get("accessor", ""),
        "lease_duration": data.get("ttl", 0),
        "renewable": data.get("renewable", False),
        "token_policies": data.get("policies", []),
        "policies": data.get("policies", []),
        "identity_policies": data.get("identity_policies", []),
        "metadata": data.get("meta"),
    }
    return _finish_login(p, s, {**(body or {}), "data": None, "auth": auth}, token)


def _finish_login(p: Parsed, s: Settings, response: dict[str, Any], token: str) -> int:
    stored = not p.flag("no-store")
    if stored:
        try:
            store_token(token)
        except OSError as exc:
            raise CommandError(
                f"Error storing the token in {token_file()}: {exc.strerror}"
            ) from None
    if s.format == "table" and not s.field:
        if stored and (os.environ.get("WARDGATE_TOKEN") or os.environ.get("VAULT_TOKEN")):
            print(
                "WARNING! A WARDGATE_TOKEN or VAULT_TOKEN environment variable is set; it takes "
                "precedence over the token stored by this command.",
                file=sys.stderr,
            )
        print(
            "Success! You are now authenticated. "
            + (
                f"The token below is stored in {token_file()}; future commands use it."
                if stored
                else "The token below is NOT stored; keep it yourself."
            )
            + "\n"
        )
    return output_secret(s, response)


SIMPLE: dict[str, tuple[dict[str, FlagKind], Callable[[Parsed, Settings], int]]] = {
    "status": (COMMON, cmd_status),
    "read": (FIELD, cmd_read),
    "write": (FIELD, cmd_write),
    "list": (COMMON, cmd_list),
    "delete": (COMMON, cmd_delete),
    "login": (LOGIN, cmd_login),
}

USAGE = {
    "status": "wardgate status [-format=json]  (exit 0 healthy, 2 otherwise)",
    "read": "wardgate read [-format=json] [-field=F] PATH [k=v ...]",
    "write": "wardgate write [-format=json] [-field=F] PATH k=v|k=@file|k=- ...",
    "list": "wardgate list [-format=json] PATH",
    "delete": "wardgate delete PATH",
    "token": "wardgate token create [-policy=P ...] [-ttl=D] [-period=D] [-num-uses=N] [-orphan]\n"
    "          [-display-name=N] [-type=service|batch] [-explicit-max-ttl=D]\n"
    "          [-no-default-policy] [-metadata=k=v ...] [-renewable=false] [-id=ID]\n"
    "  wardgate token lookup [-accessor] [TOKEN]\n"
    "  wardgate token renew [-accessor] [-increment=D] [TOKEN]\n"
    "  wardgate token revoke [-accessor] [-self] [-mode=orphan] [TOKEN]",
    "login": "wardgate login -method=TYPE [-path=MOUNT | mount=MOUNT] [-print-payload] "
    "[-no-store] k=v ...\n"
    "  wardgate login [-method=token] TOKEN",
}
COMMON_HELP = (
    "Common flags: -address=URL (WARDGATE_ADDR, VAULT_ADDR), -format=table|json, "
    "-ca-cert=FILE, -tls-skip-verify.\nToken: WARDGATE_TOKEN, VAULT_TOKEN or ~/.wardgate-token."
)


def run_client_command(command: str, argv: list[str]) -> int:
    """Entry point from core.cli: run one client command, return its exit code."""
    try:
        if command == "token":
            return cmd_token(argv)
        flags, run = SIMPLE[command]
        parsed = parse_flags(argv, flags)
        return run(parsed, settings_from(parsed))
    except HelpRequested:
        print(f"usage: {USAGE[command]}\n\n{COMMON_HELP}")
        return 0
    except UsageError as exc:
        print(f"wardgate {command}: {exc}\nusage: {USAGE[command]}", file=sys.stderr)
        return EXIT_USAGE
    except CommandError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        # The reader went away (`wardgate list ... | head`): not an error worth a traceback.
        # Point stdout at /dev/null so the interpreter's final flush does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
