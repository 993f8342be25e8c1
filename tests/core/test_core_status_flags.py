"""sys/health's query flags, sys/host-info, and sys/metrics in-process (spec §2, §5)."""

from __future__ import annotations

from typing import Any


async def test_health_codes(server: Any) -> None:
    assert (await server.call("GET", "/v1/sys/health", token=None)).status_code == 200
    custom = await server.call("GET", "/v1/sys/health?activecode=201&standbyok=true", token=None)
    assert custom.status_code == 201 and custom.json()["sealed"] is False
    head = await server.call("HEAD", "/v1/sys/health?activecode=299", token=None)
    assert head.status_code == 299 and head.content == b""
    # The other codes do not apply to an active, unsealed server, but must be numbers.
    assert (
        await server.call("GET", "/v1/sys/health?sealedcode=200&standbycode=204", token=None)
    ).status_code == 200
    bad = await server.call("GET", "/v1/sys/health?sealedcode=abc", token=None)
    assert bad.status_code == 400 and "sealedcode" in bad.json()["errors"][0]


async def test_host_info(server: Any) -> None:
    data = (await server.call("GET", "/v1/sys/host-info")).json()["data"]
    assert {"cpu", "cpu_times", "disk", "host", "memory", "timestamp"} <= set(data)
    assert data["memory"]["total"] > 0 and data["host"]["hostname"]
    assert data["cpu_times"][0]["cpu"] == "cpu0"
    plain = (
        await server.call("POST", "/v1/auth/token/create", json={"policies": ["default"]})
    ).json()["auth"]["client_token"]
    assert (await server.call("GET", "/v1/sys/host-info", token=plain)).status_code == 403


async def test_metrics_in_process(server: Any) -> None:
    await server.call("POST", "/v1/auth/token/create", json={"policies": ["default"], "ttl": "1h"})
    text = await server.call("GET", "/v1/sys/metrics", params={"format": "prometheus"})
    assert text.status_code == 200
    assert text.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    body = text.text
    assert "# TYPE vault_token_creation counter" in body
    assert (
        'vault_token_creation{auth_method="token",creation_ttl="1h",mount_point="auth/token/",'
        'namespace="root",token_type="service"} 1.0' in body
    )
    assert "vault_core_handle_request_count" in body
    dump = (await server.call("GET", "/v1/sys/metrics")).json()
    assert any(c["Name"] == "vault.token.creation" for c in dump["Counters"])
    assert (await server.call("GET", "/v1/sys/metrics", token=None)).status_code == 403
