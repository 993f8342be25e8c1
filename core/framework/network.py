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


def is_subset(inner: Iterable[str], outer: Iterable[str]) -> bool:
    """Whether every network of `inner` lies inside some network of `outer` (both valid CIDRs
    or addresses; mixed IP versions never contain each other)."""
    outer_nets = [ipaddress.ip_network(c, strict=False) for c in outer]
    for cidr in inner:
        net = ipaddress.ip_network(cidr, strict=False)
        if not any(
            net.version == o.version and net.subnet_of(o)  # type: ignore[arg-type]
            for o in outer_nets
        ):
            return False
    return True
