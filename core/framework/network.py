"""Client-address checks shared by the token store (token `bound_cidrs`) and plugins (a role's
bound CIDRs at login)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable


def ip_allowed(client_ip: str | None, cidrs: Iterable[str]) -> bool:
    """Whether `client_ip` is inside one of `cidrs`. No address, or one that does not parse,
    is never allowed; a CIDR that does not parse matches nothing."""
    if not client_ip:
        return False
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return False
    for cidr in cidrs:
        try:
            if address in ipaddress.ip_network(cidr, strict=False):
                return True
        except ValueError:
            continue
    return False
