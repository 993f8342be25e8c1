"""`server.trusted_proxies`: X-Forwarded-For decides the client address (for bound CIDRs, logs)
only when the peer is a trusted proxy, taking the rightmost hop that is not itself trusted;
from anyone else the header is ignored, so a client cannot spoof its way into a CIDR."""

from __future__ import annotations

from typing import Any

import pytest

from core.listener import client_address, parse_networks
from core.registry import PluginRegistry
from tests.conftest import memory_config

TRUSTED = parse_networks(["10.0.0.0/8", "192.0.2.10/32"])


@pytest.mark.parametrize(
    ("peer", "header", "client"),
    [
        # An untrusted peer: the header is ignored whatever it says.
        ("203.0.113.5", ["10.1.1.1"], "203.0.113.5"),
        ("203.0.113.5", ["198.51.100.7"], "203.0.113.5"),
        # A trusted proxy: the hop it appended is the client.
        ("10.0.0.2", ["198.51.100.7"], "198.51.100.7"),
        # A client's own (spoofed) entries sit left of what the proxies appended.
        ("10.0.0.2", ["10.9.9.9, 198.51.100.7"], "198.51.100.7"),
        ("10.0.0.2", ["10.9.9.9", "198.51.100.7"], "198.51.100.7"),
        # Proxy chain: trusted hops on the right are skipped.
        ("10.0.0.2", ["198.51.100.7, 192.0.2.10, 10.3.3.3"], "198.51.100.7"),
        # Every hop trusted: the leftmost.
        ("10.0.0.2", ["10.5.5.5, 10.6.6.6"], "10.5.5.5"),
        ("10.0.0.2", ["2001:db8::1"], "2001:db8::1"),
        ("10.0.0.2", [" , "], "10.0.0.2"),
        # Garbage where the client's address should be: unusable.
        ("10.0.0.2", ["not-an-ip"], None),
        ("10.0.0.2", ["198.51.100.7, junk"], None),
    ],
)
def test_client_address(peer: str, header: list[str], client: str | None) -> None:
    assert client_address(peer, [h.encode() for h in header], TRUSTED) == client


async def test_bound_cidrs_follow_only_trusted_forwarding(
    server_factory: Any, plugin_registry: PluginRegistry
) -> None:
    config = memory_config(trusted_proxies=["192.0.2.0/24"])
    async with server_factory(config, registry=plugin_registry) as srv:
        enabled = await srv.call("POST", "/v1/sys/auth/kv", json={"type": "testkv"})
        assert enabled.status_code == 204, enabled.text
        body = {"name": "a", "bound_cidrs": "10.0.0.0/8"}
        login = await srv.call("POST", "/v1/auth/kv/login", token=None, json=body)
        token = login.json()["auth"]["client_token"]

        proxy = await srv.client_from("192.0.2.1")
        stranger = await srv.client_from("203.0.113.9")
        inside = {"X-Forwarded-For": "10.1.2.3"}

        async def status(client: Any, headers: dict[str, str]) -> int:
            response = await srv.call(
                "GET", "/v1/auth/token/lookup-self", token=token, client=client, headers=headers
            )
            return int(response.status_code)

        # Through the trusted proxy, from inside the bound CIDR: allowed.
        assert await status(proxy, inside) == 200
        # The same header from an untrusted peer is ignored: refused.
        assert await status(stranger, inside) == 403
        # A client behind the proxy spoofing an inside address on the left: refused.
        assert await status(proxy, {"X-Forwarded-For": "10.1.2.3, 203.0.113.9"}) == 403
        # The proxy without a header: the proxy itself is the client (outside): refused.
        assert await status(proxy, {}) == 403
        # A trusted proxy that sent garbage: a 400 naming the header.
        bad = await srv.call(
            "GET",
            "/v1/auth/token/lookup-self",
            token=token,
            client=proxy,
            headers={"X-Forwarded-For": "bogus"},
        )
        assert bad.status_code == 400
        assert bad.json() == {"errors": ["invalid X-Forwarded-For header"]}
