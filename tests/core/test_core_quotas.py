"""Rate-limit quotas in-process: the API, Vault's scope resolution, the 429 answer and headers
(spec vault-operability §3)."""

from __future__ import annotations

from typing import Any

import pytest

from core.quotas import RateLimitQuota, most_specific
from core.quotas.limiter import Limiter

QUOTAS = "/v1/sys/quotas/rate-limit"


async def test_quota_crud_and_defaults(server: Any) -> None:
    assert (await server.call("LIST", QUOTAS)).status_code == 404
    # hvac sends nulls for what is not set.
    body = {"rate": 500, "path": None, "interval": None, "block_interval": None, "role": None}
    assert (await server.call("POST", f"{QUOTAS}/global", json=body)).status_code == 204
    data = (await server.call("GET", f"{QUOTAS}/global")).json()["data"]
    assert data == {
        "block_interval": 0,
        "inheritable": True,
        "interval": 1,
        "name": "global",
        "path": "",
        "rate": 500.0,
        "role": "",
        "type": "rate-limit",
    }
    body = {"rate": 5, "path": "auth/token", "interval": "1m", "block_interval": "30s"}
    assert (await server.call("POST", f"{QUOTAS}/tok", json=body)).status_code == 204
    data = (await server.call("GET", f"{QUOTAS}/tok")).json()["data"]
    assert data["path"] == "auth/token/" and data["interval"] == 60
    assert data["block_interval"] == 30 and data["inheritable"] is False
    assert (await server.call("LIST", QUOTAS)).json()["data"]["keys"] == ["global", "tok"]
    assert (await server.call("DELETE", f"{QUOTAS}/global")).status_code == 204
    assert (await server.call("GET", f"{QUOTAS}/global")).status_code == 404


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"rate": 0}, "'rate' is invalid"),
        ({"rate": -1}, "'rate' is invalid"),
        ({"rate": 1, "path": "auth/nonexist"}, 'invalid mount path "auth/nonexist/"'),
        ({"rate": 1, "path": "auth/token", "role": "x"}, "does not support use with role-based"),
        ({"rate": 1, "path": "sys", "role": "x"}, "is not a valid auth method"),
        (
            {"rate": 1, "path": "auth/token/create", "role": "x"},
            "Quotas cannot contain both a path suffix and a role",
        ),
    ],
)
async def test_quota_refusals(server: Any, body: dict[str, Any], message: str) -> None:
    resp = await server.call("POST", f"{QUOTAS}/bad", json=body)
    assert resp.status_code == 400, resp.text
    assert message in resp.json()["errors"][0]


async def test_similar_quota_refused(server: Any) -> None:
    await server.call("POST", f"{QUOTAS}/a", json={"rate": 1, "path": "auth/token"})
    resp = await server.call("POST", f"{QUOTAS}/b", json={"rate": 3, "path": "auth/token/"})
    assert resp.status_code == 400
    assert resp.json()["errors"] == ['quota rule with similar properties exists under the name "a"']


async def test_config_full_replace(server: Any) -> None:
    defaults = (await server.call("GET", "/v1/sys/quotas/config")).json()["data"]
    assert defaults["enable_rate_limit_audit_logging"] is False
    assert "sys/health" in defaults["rate_limit_exempt_paths"]
    body = {"enable_rate_limit_response_headers": True}
    assert (await server.call("POST", "/v1/sys/quotas/config", json=body)).status_code == 204
    data = (await server.call("GET", "/v1/sys/quotas/config")).json()["data"]
    assert data == {
        "enable_rate_limit_audit_logging": False,
        "enable_rate_limit_response_headers": True,
        "rate_limit_exempt_paths": [],
    }


def _q(name: str, mount: str = "", suffix: str = "", role: str = "") -> RateLimitQuota:
    return RateLimitQuota(name=name, mount=mount, suffix=suffix, rate=1, role=role)


def test_most_specific_order() -> None:
    quotas = [
        _q("global"),
        _q("mount", "auth/alicloud/"),
        _q("exact", "auth/alicloud/", "login"),
        _q("glob", "auth/alicloud/", "role/*"),
        _q("deeper", "auth/alicloud/", "role/team-*"),
        _q("role", "auth/alicloud/", role="dev"),
    ]

    def pick(mount: str, suffix: str, role: str | None = None) -> str | None:
        found = most_specific(quotas, mount, suffix, role)
        return found.name if found else None

    assert pick("auth/alicloud/", "login", "dev") == "role"
    assert pick("auth/alicloud/", "login", "prod") == "exact"
    assert pick("auth/alicloud/", "login/x") == "mount"  # an exact path is not a prefix
    assert pick("auth/alicloud/", "role/team-a") == "deeper"
    assert pick("auth/alicloud/", "role/x") == "glob"
    assert pick("auth/alicloud/", "roles") == "mount"
    assert pick("sys/", "auth") == "global"
    assert most_specific(quotas[1:], "sys/", "auth", None) is None


def test_fixed_window_and_block() -> None:
    limiter = Limiter(":memory:")
    check = dict(rate=2, interval=10.0, block_interval=0.0)
    got = [limiter.check("q", "1.2.3.4", now=100.0 + i, **check) for i in range(3)]
    assert [v.allowed for v in got] == [True, True, False]
    assert got[2].reset == 8 and got[0].remaining == 1
    # Another client has its own bucket.
    assert limiter.check("q", "5.6.7.8", now=102.0, **check).allowed
    # The next window refills.
    assert limiter.check("q", "1.2.3.4", now=110.5, **check).allowed
    blocking = dict(rate=1, interval=10.0, block_interval=60.0)
    assert limiter.check("b", "c", now=0.0, **blocking).allowed
    refused = limiter.check("b", "c", now=1.0, **blocking)
    assert not refused.allowed and refused.retry_after == 60
    later = limiter.check("b", "c", now=30.0, **blocking)
    assert not later.allowed and later.blocked and later.retry_after == 31
    assert limiter.check("b", "c", now=62.0, **blocking).allowed


async def test_429_with_headers_before_authentication(server: Any) -> None:
    body = {"rate": 2, "path": "auth/token/lookup-self", "interval": "1h"}
    await server.call("POST", f"{QUOTAS}/lookups", json=body)
    await server.call(
        "POST", "/v1/sys/quotas/config", json={"enable_rate_limit_response_headers": True}
    )
    first = await server.call("GET", "/v1/auth/token/lookup-self")
    assert first.status_code == 200
    assert first.headers["X-Ratelimit-Limit"] == "2"
    assert first.headers["X-Ratelimit-Remaining"] == "1"
    # A bad token is counted too: the quota comes before the token check.
    bad = await server.call("GET", "/v1/auth/token/lookup-self", token="s.forged")
    assert bad.status_code == 403
    refused = await server.call("GET", "/v1/auth/token/lookup-self")
    assert refused.status_code == 429
    assert refused.json() == {
        "errors": ['request path "auth/token/lookup-self": rate limit quota exceeded']
    }
    assert refused.headers["Retry-After"] == refused.headers["X-Ratelimit-Reset"]
    assert int(refused.headers["Retry-After"]) > 3000
    # Other paths are not limited by it.
    assert (await server.call("GET", "/v1/sys/auth")).status_code == 200
    # Headers off: none of them.
    await server.call("POST", "/v1/sys/quotas/config", json={})
    plain = await server.call("GET", "/v1/auth/token/lookup-self")
    assert plain.status_code == 429 and "Retry-After" not in plain.headers
