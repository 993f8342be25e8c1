"""Policy text (HCL, JSON, or base64 of either) to a validated Policy.

The document shape is Vault's:

    path "auth/approle/role/*" {
      capabilities = ["create", "read", "update", "delete", "list"]
      allowed_parameters = { "token_ttl" = [], "token_policies" = ["dev", "dev-*"] }
      denied_parameters = { "token_policies" = ["root", "admin"] }
      required_parameters = ["token_ttl"]
    }

plus the deprecated `policy = "read" | "write" | "sudo" | "deny"` shorthand. Every refusal is a
PolicyError (400) whose message names the problem.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping

import msgspec

from core.policy.builtin import ROOT
from core.policy.hclload import load_items
from core.policy.model import CAPABILITIES, DENY, PathRule, Policy, PolicyError
from core.policy.params import canonical

# Policy names: lower-cased first (as Vault does), then 1-128 of [a-z0-9._-] starting with a
# letter or digit. Stricter than Vault on purpose: no `/` (names are URL path segments and
# storage keys), no `,` (token fields take comma-separated policy lists), no whitespace.
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,127}")
# The same rule for the OpenAPI document's `{name}` parameter (names are lower-cased first).
POLICY_NAME = msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$", max_length=128)

# The deprecated shorthand, mapped exactly as Vault's policy.go does.
_OLD_POLICIES: Mapping[str, tuple[str, ...]] = {
    "deny": ("deny",),
    "read": ("read", "list"),
    "write": ("create", "read", "update", "delete", "list"),
    "sudo": ("create", "read", "update", "delete", "list", "sudo"),
}

_PATH_KEYS = frozenset(
    {
        "capabilities",
        "policy",
        "allowed_parameters",
        "denied_parameters",
        "required_parameters",
        "comment",
    }
)
# Valid in Vault but not implemented here. Each one restricts access, so silently ignoring it
# would grant more than the author wrote: refuse the policy instead.
_UNSUPPORTED_KEYS = frozenset(
    {
        "min_wrapping_ttl",
        "max_wrapping_ttl",
        "mfa_methods",
        "control_group",
        "subscribe_event_types",
    }
)

EMPTY_POLICY = "'policy' parameter not supplied or empty"


def normalize_name(name: str) -> str:
    """The stored form of a policy name; PolicyError when it cannot be a policy name."""
    lowered = name.lower()
    if not _NAME.fullmatch(lowered):
        raise PolicyError(
            f"invalid policy name {name!r}: use 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return lowered


def decode_text(text: str) -> str:
    """The policy document, base64-decoded when the whole text is valid base64 (as Vault)."""
    compact = text.replace("\r", "").replace("\n", "")  # Go's decoder skips line breaks
    if not compact:
        return text
    try:
        return base64.b64decode(compact, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return text


def parse_policy(name: str, text: str) -> Policy:
    """Validate a policy document. `Policy.text` is the document as read back later: the text
    as written, or its decoded form when it was sent base64-encoded."""
    name = normalize_name(name)
    if name == ROOT:
        # ACL.compile grants everything to a policy named root: never let text produce one.
        raise PolicyError('"root" is a reserved policy name')
    text = decode_text(text)
    if not text.strip():  # checked after decoding: base64 of blanks is empty too
        raise PolicyError(EMPTY_POLICY)
    rules: list[PathRule] = []
    for key, value in load_items(text):
        if key == "name":
            continue  # Vault tolerates a top-level `name`; the URL names the policy
        if key != "path":
            raise PolicyError(f'failed to parse policy: invalid key "{key}"')
        for path, body in _path_blocks(value):
            rules.append(_rule(path, body))
    return Policy(name=name, text=text, rules=tuple(rules))


def _path_blocks(value: object) -> list[tuple[str, object]]:
    # HCL gives {"p": {...}, ...}; the JSON form may also be a list of such objects.
    objects = value if isinstance(value, list) else [value]
    blocks: list[tuple[str, object]] = []
    for obj in objects:
        if not isinstance(obj, dict) or not obj:
            raise PolicyError(
                'failed to parse policy: "path" must be written path "<path>" { ... }'
            )
        for path, body in obj.items():
            blocks.append((str(path), body))
    return blocks


def _rule(written: str, body: object) -> PathRule:
    where = f'failed to parse policy: path "{written}"'
    if not isinstance(body, dict):
        raise PolicyError(f"{where}: the block must be an object")
    for key in body:
        if key in _UNSUPPORTED_KEYS:
            raise PolicyError(f'{where}: "{key}" is not supported by wardgate')
        if key not in _PATH_KEYS:
            raise PolicyError(f'{where}: invalid key "{key}"')
    path = _check_path(written, where)
    capabilities = set(_strings(body.get("capabilities", []), where, "capabilities"))
    old = body.get("policy")
    if old is not None:
        if not isinstance(old, str) or old not in _OLD_POLICIES:
            raise PolicyError(f"{where}: invalid policy {canonical(old)!r}")
        capabilities.update(_OLD_POLICIES[old])
    for capability in sorted(capabilities):
        if capability not in CAPABILITIES:
            raise PolicyError(f'{where}: invalid capability "{capability}"')
    if DENY in capabilities:
        # As Vault: deny replaces every other capability and the block's parameter rules.
        return PathRule(path=path, capabilities=frozenset({DENY}))
    return PathRule(
        path=path,
        capabilities=frozenset(capabilities),
        allowed_parameters=_param_map(body.get("allowed_parameters"), where, "allowed_parameters"),
        denied_parameters=_param_map(body.get("denied_parameters"), where, "denied_parameters"),
        required_parameters=tuple(
            p.lower()
            for p in _strings(body.get("required_parameters", []), where, "required_parameters")
        ),
    )


def _check_path(written: str, where: str) -> str:
    path = written[1:] if written.startswith("/") else written
    if not path:
        raise PolicyError(f"{where}: the path is empty")
    if "*" in path[:-1]:
        raise PolicyError(f'{where}: "*" is only allowed at the end of a path')
    if path.endswith("+*"):
        raise PolicyError(f"{where}: invalid use of wildcards ('+*' is forbidden)")
    if any("+" in segment and segment != "+" for segment in path.rstrip("*").split("/")):
        raise PolicyError(f'{where}: "+" must be a whole path segment')
    if "{{" in path:
        raise PolicyError(f"{where}: identity templates are not supported by wardgate")
    return path


def _strings(value: object, where: str, key: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PolicyError(f'{where}: "{key}" must be a list of strings')
    return list(value)


def _param_map(value: object, where: str, key: str) -> dict[str, tuple[str, ...]] | None:
    if value is None:
        return None
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        # A repeated block, which pyhcl turns into a list: refused rather than folded, since a
        # wrong fold could drop a denial.
        raise PolicyError(f'{where}: "{key}" is given more than once')
    if not isinstance(value, dict):
        raise PolicyError(f'{where}: "{key}" must be a map of parameter names to value lists')
    out: dict[str, tuple[str, ...]] = {}
    for name, values in value.items():
        if not isinstance(values, list) or not all(
            isinstance(v, str | int | float | bool) for v in values
        ):
            raise PolicyError(
                f'{where}: "{key}" value for "{name}" must be a list of '
                "strings, numbers or booleans"
            )
        out[str(name).lower()] = tuple(canonical(v) for v in values)
    return out
