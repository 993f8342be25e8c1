"""Vault's common token fields on a role (`token_policies`, `token_ttl`, ... and the deprecated
`policies`, `ttl`, `max_ttl`, `period`, `bound_cidrs`), shared by every auth plugin.

Input is partial (msgspec UNSET = not sent), so an update keeps what the client did not send.
The deprecated names are mapped at the edge to the one internal name, keeping Vault's read-back
rule: a deprecated key is shown only while it was the last way the value was set.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from core.framework.errors import BadRequest
from core.framework.fields import CommaList, DurationSeconds, NonNegativeInt, WeakStr
from core.framework.path import LoginAuth

_TOKEN_TYPES = {"": "default", "default": "default", "service": "service", "batch": "batch"}


class TokenFieldsInput(msgspec.Struct, kw_only=True):
    token_policies: CommaList | UnsetType = UNSET
    token_ttl: DurationSeconds | UnsetType = UNSET
    token_max_ttl: DurationSeconds | UnsetType = UNSET
    token_period: DurationSeconds | UnsetType = UNSET
    token_explicit_max_ttl: DurationSeconds | UnsetType = UNSET
    token_no_default_policy: bool | UnsetType = UNSET
    token_num_uses: NonNegativeInt | UnsetType = UNSET
    token_bound_cidrs: CommaList | UnsetType = UNSET
    token_type: WeakStr | UnsetType = UNSET
    # Deprecated aliases, accepted for compatibility.
    policies: CommaList | UnsetType = UNSET
    ttl: DurationSeconds | UnsetType = UNSET
    max_ttl: DurationSeconds | UnsetType = UNSET
    period: DurationSeconds | UnsetType = UNSET
    bound_cidrs: CommaList | UnsetType = UNSET


class TokenSettings(msgspec.Struct, kw_only=True):
    token_policies: list[str] = msgspec.field(default_factory=list)
    token_ttl: int = 0
    token_max_ttl: int = 0
    token_period: int = 0
    token_explicit_max_ttl: int = 0
    token_no_default_policy: bool = False
    token_num_uses: int = 0
    token_bound_cidrs: list[str] = msgspec.field(default_factory=list)
    token_type: str = "default"
    # What the deprecated names last set; shown back only while non-empty.
    policies: list[str] = msgspec.field(default_factory=list)
    ttl: int = 0
    max_ttl: int = 0
    period: int = 0
    bound_cidrs: list[str] = msgspec.field(default_factory=list)


def normalize_cidrs(values: list[str], field: str) -> list[str]:
    """Validate CIDRs; a full-length prefix reads back as a bare address (as Vault shows it)."""
    out: list[str] = []
    for value in values:
        try:
            network = ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise BadRequest(f'invalid CIDR or IP address in {field}: "{value}"') from None
        full = network.max_prefixlen
        if network.prefixlen == full:
            out.append(str(network.network_address))
        else:
            out.append(value.strip())
    return out


def parse_policies(values: list[str]) -> list[str]:
    """The deprecated `policies` field: lower-cased, deduplicated, sorted; `root` alone wins."""
    cleaned = sorted({p.strip().lower() for p in values if p.strip()})
    return ["root"] if "root" in cleaned else cleaned


def apply_token_fields(
    current: TokenSettings, given: TokenFieldsInput
) -> tuple[TokenSettings, list[str]]:
    """Merge a (partial) input into stored settings; returns the result and any warnings.

    Raises BadRequest naming the offending field.
    """
    new = msgspec.structs.replace(current)
    warnings: list[str] = []
    if not isinstance(given.token_policies, UnsetType):
        new.token_policies = list(given.token_policies)
    for name in (
        "token_ttl",
        "token_max_ttl",
        "token_period",
        "token_explicit_max_ttl",
        "token_num_uses",
    ):
        value = getattr(given, name)
        if not isinstance(value, UnsetType):
            setattr(new, name, int(value))
    if not isinstance(given.token_no_default_policy, UnsetType):
        new.token_no_default_policy = given.token_no_default_policy
    if not isinstance(given.token_bound_cidrs, UnsetType):
        new.token_bound_cidrs = normalize_cidrs(list(given.token_bound_cidrs), "token_bound_cidrs")
    if not isinstance(given.token_type, UnsetType):
        new.token_type = _token_type(str(given.token_type), warnings)

    if new.token_num_uses < 0:
        raise BadRequest("'token_num_uses' cannot be negative")
    if new.token_type == "batch" and new.token_period:
        raise BadRequest(
            "'token_type' cannot be 'batch' or 'default_batch' when set to generate periodic tokens"
        )
    if new.token_type == "batch" and new.token_num_uses:
        raise BadRequest(
            "'token_type' cannot be 'batch' or 'default_batch' when set to generate tokens "
            "with limited use count"
        )
    _apply_deprecated(new, given)
    if new.token_max_ttl > 0 and new.token_ttl > new.token_max_ttl:
        raise BadRequest("'token_ttl' cannot be greater than 'token_max_ttl'")
    return new, warnings


def _token_type(value: str, warnings: list[str]) -> str:
    if value == "default-service":
        warnings.append("default-service has no useful meaning; adjusting to service")
        return "service"
    if value == "default-batch":
        warnings.append("default-batch has no useful meaning; adjusting to batch")
        return "batch"
    if value not in _TOKEN_TYPES:
        raise BadRequest(f"invalid 'token_type' value \"{value}\"")
    return _TOKEN_TYPES[value]


def _apply_deprecated(new: TokenSettings, given: TokenFieldsInput) -> None:
    """Vault's upgrade rule for each (deprecated, current) pair, applied to what was sent."""
    pairs: list[tuple[str, str, Any]] = [
        ("policies", "token_policies", parse_policies),
        ("ttl", "token_ttl", int),
        ("max_ttl", "token_max_ttl", int),
        ("period", "token_period", int),
        ("bound_cidrs", "token_bound_cidrs", lambda v: normalize_cidrs(list(v), "bound_cidrs")),
    ]
    for old, current, convert in pairs:
        old_value = getattr(given, old)
        current_sent = not isinstance(getattr(given, current), UnsetType)
        if not isinstance(old_value, UnsetType) and not current_sent:
            value = convert(old_value)
            setattr(new, old, value)
            setattr(new, current, value)
        elif current_sent:
            value = getattr(new, current)
            empty: Any = [] if isinstance(value, list) else 0
            setattr(new, old, value if not isinstance(old_value, UnsetType) else empty)


def token_fields_data(settings: TokenSettings) -> dict[str, Any]:
    """The role-read view of the token fields (deprecated keys only while set)."""
    data: dict[str, Any] = {
        "token_bound_cidrs": list(settings.token_bound_cidrs),
        "token_explicit_max_ttl": settings.token_explicit_max_ttl,
        "token_max_ttl": settings.token_max_ttl or settings.max_ttl,
        "token_no_default_policy": settings.token_no_default_policy,
        "token_num_uses": settings.token_num_uses,
        "token_period": settings.token_period or settings.period,
        "token_policies": list(settings.token_policies or settings.policies),
        "token_ttl": settings.token_ttl or settings.ttl,
        "token_type": settings.token_type,
    }
    for name in ("policies", "bound_cidrs", "ttl", "max_ttl", "period"):
        value = getattr(settings, name)
        if value:
            data[name] = list(value) if isinstance(value, list) else value
    return dict(sorted(data.items()))


def login_auth(settings: TokenSettings, **extra: Any) -> LoginAuth:
    """The token a login on this role gets (Vault's PopulateTokenAuth)."""
    return LoginAuth(
        policies=list(settings.token_policies or settings.policies),
        ttl=settings.token_ttl or settings.ttl,
        max_ttl=settings.token_max_ttl or settings.max_ttl,
        period=settings.token_period or settings.period,
        explicit_max_ttl=settings.token_explicit_max_ttl,
        num_uses=settings.token_num_uses,
        no_default_policy=settings.token_no_default_policy,
        bound_cidrs=list(settings.token_bound_cidrs or settings.bound_cidrs),
        token_type=settings.token_type,
        **extra,
    )
