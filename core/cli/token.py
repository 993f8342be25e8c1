"""`wardgate token create|lookup|renew|revoke|capabilities`."""

from __future__ import annotations

from typing import Any

from core.cli.client import Client
from core.cli.command import Command, Group
from core.cli.data import parse_data
from core.cli.errors import UsageError
from core.cli.flags import COMMON, FIELD, Flag, Parsed
from core.cli.output import output_secret, print_structured
from core.cli.settings import Settings

ACCESSOR = Flag("accessor", "bool", "the argument is a token accessor, not a token")

CREATE_FLAGS: tuple[Flag, ...] = (
    *FIELD,
    Flag("policy", "list", "a policy of the token (repeat for several)", "NAME"),
    Flag("role", "str", "create the token from this token role (auth/token/create/ROLE)", "NAME"),
    Flag("ttl", "str", "initial TTL (e.g. 1h, 30m, 3600)", "DURATION"),
    Flag("explicit-max-ttl", "str", "a hard limit the token can never be renewed past", "DURATION"),
    Flag("period", "str", "make a periodic token, renewable forever by this period", "DURATION"),
    Flag(
        "num-uses",
        "str",
        "the token may be used this many times (0: unlimited)",
        "N",
        aliases=("use-limit",),
    ),
    Flag("orphan", "bool", "create a token without a parent"),
    Flag("display-name", "str", "a name shown in lookups and logs", "NAME"),
    Flag("type", "str", "service or batch", "TYPE"),
    Flag("no-default-policy", "bool", "do not attach the default policy"),
    Flag("metadata", "list", "K=V metadata (repeat for several)", "K=V"),
    Flag("renewable", "bool", "whether the token may be renewed (default true)"),
    Flag("id", "str", "the token's value (root only)", "ID"),
)


def token_create_body(p: Parsed) -> dict[str, Any]:
    if p.args:
        raise UsageError("token create takes no arguments, only flags")
    body: dict[str, Any] = {}
    if p.many("policy"):
        body["policies"] = p.many("policy")
    for flag in ("ttl", "period", "explicit-max-ttl", "display-name", "type", "id"):
        if p.text(flag) is not None:
            body[flag.replace("-", "_")] = p.text(flag)
    uses = p.text("num-uses")
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


def token_create(p: Parsed, s: Settings) -> int:
    body = token_create_body(p)
    role = (p.text("role") or "").strip("/")
    if role and p.flag("orphan"):
        raise UsageError("-role and -orphan cannot be used together (the role decides)")
    if role:
        path = f"auth/token/create/{role}"
    else:
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


def token_capabilities(p: Parsed, s: Settings) -> int:
    if len(p.args) not in (1, 2):
        raise UsageError("token capabilities takes [TOKEN] PATH")
    *target, path = p.args
    body: dict[str, Any] = {"paths": [path]}
    if not target:
        if p.flag("accessor"):
            raise UsageError("token capabilities -accessor needs ACCESSOR PATH")
        endpoint = "sys/capabilities-self"
    elif p.flag("accessor"):
        endpoint, body["accessor"] = "sys/capabilities-accessor", target[0]
    else:
        endpoint, body["token"] = "sys/capabilities", target[0]
    with Client(s) as client:
        _, response = client.call("POST", endpoint, "listing capabilities of", json_body=body)
    found = (response or {}).get("data") or response or {}
    caps = found.get(path, found.get("capabilities", []))
    caps = sorted(str(c) for c in caps) if isinstance(caps, list) else []
    if s.format != "table":
        print_structured(s, caps)
    else:
        print(", ".join(caps))
    return 0


GROUP = Group(
    "token",
    "Create, look up, renew and revoke tokens; check what a token may do.",
    {
        "create": Command(
            "token create",
            "",
            "Create a token (a child of yours unless -orphan).",
            CREATE_FLAGS,
            token_create,
        ),
        "lookup": Command(
            "token lookup",
            "[TOKEN]",
            "Show a token's properties (default: your own).",
            (*FIELD, ACCESSOR),
            token_lookup,
        ),
        "renew": Command(
            "token renew",
            "[TOKEN]",
            "Renew a token's lease (default: your own).",
            (
                *FIELD,
                ACCESSOR,
                Flag("increment", "str", "ask for this TTL from now", "DURATION", aliases=("i",)),
            ),
            token_renew,
        ),
        "revoke": Command(
            "token revoke",
            "[TOKEN]",
            "Revoke a token and its children.",
            (
                *COMMON,
                ACCESSOR,
                Flag("self", "bool", "revoke the token you are using"),
                Flag("mode", "str", "orphan: revoke the token only, keep its children", "MODE"),
            ),
            token_revoke,
        ),
        "capabilities": Command(
            "token capabilities",
            "[TOKEN] PATH",
            "List what a token (default: your own) may do on PATH.",
            (*COMMON, ACCESSOR),
            token_capabilities,
        ),
    },
)
