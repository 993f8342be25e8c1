"""`wardgate policy write|read|list|delete`: ACL policies (sys/policies/acl)."""

from __future__ import annotations

import sys

from core.cli.client import Client
from core.cli.command import Command, Group, expect_args
from core.cli.data import read_file
from core.cli.errors import EXIT_ERROR, UsageError
from core.cli.flags import COMMON, Parsed
from core.cli.output import print_structured
from core.cli.settings import Settings


def _name(raw: str) -> str:
    name = raw.strip().lower()
    if not name or "/" in name:
        raise UsageError(f"invalid policy name {raw!r}")
    return name


def policy_write(p: Parsed, s: Settings) -> int:
    name, source = expect_args(p, "policy write", "NAME and a FILE (or - for stdin)", 2)
    text = sys.stdin.read() if source == "-" else read_file(source)
    if not text.strip():
        raise UsageError(f"the policy in {source} is empty")
    with Client(s) as client:
        client.call(
            "PUT", f"sys/policies/acl/{_name(name)}", "uploading policy", json_body={"policy": text}
        )
    print(f"Success! Uploaded policy: {_name(name)}")
    return 0


def policy_read(p: Parsed, s: Settings) -> int:
    (name,) = expect_args(p, "policy read", "NAME", 1)
    with Client(s) as client:
        status, body = client.call("GET", f"sys/policies/acl/{_name(name)}", "reading policy")
    data = (body or {}).get("data")
    if status == 404 or not isinstance(data, dict):
        print(f"No policy named: {_name(name)}", file=sys.stderr)
        return EXIT_ERROR
    if s.format != "table":
        print_structured(s, data)
    else:
        print(str(data.get("policy", "")).rstrip("\n"))
    return 0


def policy_list(p: Parsed, s: Settings) -> int:
    expect_args(p, "policy list", "no arguments", 0)
    with Client(s) as client:
        _, body = client.call("LIST", "sys/policies/acl", "listing policies")
    data = (body or {}).get("data") or {}
    keys = [str(k) for k in data.get("keys") or []]
    if s.format != "table":
        print_structured(s, keys)
    else:
        print("\n".join(keys))
    return 0


def policy_delete(p: Parsed, s: Settings) -> int:
    (name,) = expect_args(p, "policy delete", "NAME", 1)
    with Client(s) as client:
        client.call("DELETE", f"sys/policies/acl/{_name(name)}", "deleting policy")
    print(f"Success! Deleted policy: {_name(name)}")
    return 0


GROUP = Group(
    "policy",
    "Write, read, list and delete ACL policies (HCL or JSON).",
    {
        "write": Command(
            "policy write",
            "NAME FILE|-",
            "Create or replace a policy from a file (or stdin).",
            COMMON,
            policy_write,
        ),
        "read": Command(
            "policy read", "NAME", "Print a policy as it was written.", COMMON, policy_read
        ),
        "list": Command("policy list", "", "List the policy names.", COMMON, policy_list),
        "delete": Command("policy delete", "NAME", "Delete a policy.", COMMON, policy_delete),
    },
)
