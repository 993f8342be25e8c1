"""CIDR lists of roles and secret IDs, checked the way Vault words its errors."""

from __future__ import annotations

import ipaddress

from core.framework import BadRequest, is_subset


def validate_cidrs(values: list[str]) -> list[str]:
    """CIDR blocks or bare addresses, kept as given (Vault reads them back unchanged)."""
    for value in values:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise BadRequest(
                f"failed to validate CIDR blocks: invalid CIDR address: {value}"
            ) from None
    return list(values)


def check_subset(inner: list[str], outer: list[str], what: str) -> None:
    """A secret ID may narrow its role's CIDRs, never widen them."""
    if inner and outer and not is_subset(inner, outer):
        raise BadRequest(
            f"failed to verify subset relationship between {what} on the role "
            f"{_go_list(outer)} and {what} on the secret ID {_go_list(inner)}"
        )


def _go_list(values: list[str]) -> str:
    return "[" + " ".join(f'"{v}"' for v in values) + "]"
