"""`wardgate login`: with a token (`-method=token`, the default) or through an auth method whose
plugin brings a login helper (`-method=alicloud role=R region=...`). The arguments each method
takes come from the plugin registry, so `login -h` lists them without the core knowing them."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable
from typing import Any

from core.cli.client import Client
from core.cli.command import Command
from core.cli.data import parse_data
from core.cli.errors import CommandError, UsageError
from core.cli.flags import FIELD, Flag, Parsed
from core.cli.output import output_secret, print_json
from core.cli.settings import Settings, store_token, token_file

FLAGS: tuple[Flag, ...] = (
    *FIELD,
    Flag("method", "str", "the auth method type (default token)", "TYPE"),
    Flag("path", "str", "the method's mount (default: the type's name; also mount=)", "MOUNT"),
    Flag(
        "print-payload",
        "bool",
        "print the login request body and send nothing (e.g. for "
        "`bao write auth/alicloud/login @payload.json`)",
    ),
    Flag("no-store", "bool", "do not store the token in ~/.wardgate-token"),
)


def method_help() -> str:
    from core.registry import default_registry

    registry = default_registry()
    lines = ["Methods and their K=V arguments:", "  token: TOKEN (or token=TOKEN, or - for stdin)"]
    for type_ in registry.types():
        spec = registry.get(type_)
        if spec is None or spec.login is None:
            continue
        lines.append(f"  {type_}:")
        width = max((len(k) for k in spec.login_args), default=0)
        lines += [f"    {k:<{width}}  {v}" for k, v in spec.login_args.items()]
    return "\n".join(lines)


def cmd_login(p: Parsed, s: Settings) -> int:
    method = p.text("method") or "token"
    if method == "token":
        return _login_with_token(p, s)
    args = parse_data(p.args)
    # `mount=` as Vault's CLI handlers take it; -path wins; default: the method's name.
    mount_arg = args.pop("mount", None)
    body = login_body(method, args)
    if p.flag("print-payload"):
        print_json(body)
        return 0
    infisical = _infisical_method(method)
    if infisical and "identityId" in body:
        return _login_infisical(p, s, infisical, body)
    mount = str(p.text("path") or mount_arg or method).strip("/")
    with Client(s) as client:
        _, response = client.call(
            "POST", f"auth/{mount}/login", "logging in at", json_body=body, anonymous=True
        )
    auth = (response or {}).get("auth")
    if not isinstance(auth, dict) or not auth.get("client_token"):
        raise CommandError(f"Error logging in at auth/{mount}/login: no token was returned")
    return _finish_login(p, s, response or {}, str(auth["client_token"]))


def login_body(method: str, args: dict[str, Any]) -> dict[str, Any]:
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


def _infisical_method(method: str) -> str:
    from core.registry import default_registry

    spec = default_registry().get(method)
    return spec.infisical_method if spec is not None else ""


def _login_infisical(p: Parsed, s: Settings, slug: str, body: dict[str, Any]) -> int:
    """A machine identity's login through the Infisical API (the helper built its body)."""
    path = f"auth/{slug}/login"
    with Client(s) as client:
        answer = client.infisical_post(path, "logging in at", body)
    token = answer.get("accessToken")
    if not isinstance(token, str) or not token:
        raise CommandError(f"Error logging in at /api/v1/{path}: no token was returned")
    auth = {
        "client_token": token,
        "lease_duration": answer.get("expiresIn", 0),
        "renewable": True,
        "token_type": "service",
        "metadata": {"identity_id": str(body["identityId"]), "auth_method": slug},
    }
    return _finish_login(p, s, {"data": None, "auth": auth}, token)


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
            raise UsageError(f"cannot store the token in {token_file()}: {exc.strerror}") from None
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


COMMANDS = {
    "login": Command(
        "login",
        "[TOKEN | K=V ...]",
        "Log in and store the token in ~/.wardgate-token (0600) for later commands.",
        FLAGS,
        cmd_login,
        more_help=method_help,
    ),
}
