"""A role-scoped rate-limit quota on an AliCloud mount: checked before STS is called, so a
refused login costs nothing upstream; other roles are not limited by it."""

from __future__ import annotations

import re

from tests.alicloud.conftest import ROLE
from tests.alicloud.test_plugin_flow import (  # noqa: F401  (fixtures)
    Signer,
    clock,
    login,
    make_role,
    signed,
    srv,
    sts,
)
from tests.conftest import Server


def _sts_calls(text: str) -> float:
    match = re.search(r'^wardgate_alicloud_sts_request_count\{outcome="ok"\} (\S+)$', text, re.M)
    return float(match.group(1)) if match else 0.0


async def test_role_quota_refuses_before_sts(srv: Server, signed: Signer) -> None:  # noqa: F811
    identity = ROLE
    await make_role(srv, "dev")
    await make_role(srv, "prod")
    body = {"path": "auth/alicloud", "role": "DEV", "rate": 1, "interval": "1h"}
    resp = await srv.call("POST", "/v1/sys/quotas/rate-limit/dev-logins", json=body)
    assert resp.status_code == 204, resp.text
    assert (await srv.call("GET", "/v1/sys/quotas/rate-limit/dev-logins")).json()["data"][
        "role"
    ] == "dev"

    assert (await login(srv, signed(identity, "dev"))).status_code == 200
    refused = await login(srv, signed(identity, "Dev"))
    assert refused.status_code == 429
    assert refused.json() == {
        "errors": ['request path "auth/alicloud/login": rate limit quota exceeded']
    }
    # Another role is not under this quota.
    assert (await login(srv, signed(identity, "prod"))).status_code == 200
    metrics = await srv.call("GET", "/v1/sys/metrics", params={"format": "prometheus"})
    assert _sts_calls(metrics.text) == 2  # the refused login never reached STS
    assert 'vault_quota_rate_limit_violation{name="dev-logins"} 1.0' in metrics.text
