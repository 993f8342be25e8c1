"""Metrics and rate-limit quotas on a real 2-worker `wardgate server`: one scrape counts every
request whichever worker served it, and a quota of N per interval lets exactly N of 3N parallel
requests through across both workers (the rest: 429 with Retry-After)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import hvac
import pytest

from tests.server.test_acl_processes import bytes_written, worker_pids
from tests.support.server import ServerProcess, client_env, free_port, running_server

N = 10


@pytest.fixture(scope="module")
def two_workers(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, str, ServerProcess]]:
    home = tmp_path_factory.mktemp("workers")
    port = free_port()
    config = home / "wardgate.toml"
    config.write_text(
        f"""
[server]
address = "127.0.0.1:{port}"
workers = 2

[storage]
path = "{home / "wardgate.db"}"
synchronous = "normal"
"""
    )
    with running_server(["--config", str(config)], client_env(home), port=port, log_dir=home) as (
        url,
        server,
    ):
        root = re.search(r"^Root token: (\S+)$", server.stderr(), re.MULTILINE)
        assert root is not None
        yield url, root.group(1), server


def _fresh_get(url: str, path: str, token: str | None) -> httpx.Response:
    headers = {"X-Vault-Token": token} if token else {}
    with httpx.Client(timeout=30) as client:
        return client.get(f"{url}/v1/{path}", headers=headers)


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_metrics_count_every_worker(two_workers: tuple[str, str, ServerProcess]) -> None:
    url, root, server = two_workers
    client = hvac.Client(url=url, token=root)
    scrape = lambda: client.adapter.get("/v1/sys/metrics", params={"format": "prometheus"}).text  # noqa: E731

    before = scrape()
    workers = worker_pids(server)
    written = bytes_written(workers)
    sent = 40
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda _: _fresh_get(url, "sys/auth", root).status_code, range(sent)))
    assert codes == [200] * sent
    after_written = bytes_written(workers)
    assert all(after_written[p] > written[p] for p in workers), "both workers must serve"
    after = scrape()
    label = 'vault_core_response_status_code{code="200",type="2xx"}'
    # The first scrape itself was counted after it was rendered: +1.
    assert _metric(after, label) - _metric(before, label) == sent + 1
    count = "vault_core_handle_request_count"
    assert _metric(after, count) - _metric(before, count) == sent + 1
    assert "# TYPE vault_core_response_status_code counter" in after
    assert "_total" not in after and "_created" not in after
    assert "wardgate_storage_get_count" in after

    # The JSON default, and the ACL: a default-policy token may not read metrics.
    dump = client.adapter.get("/v1/sys/metrics")
    assert {"Timestamp", "Gauges", "Counters", "Samples", "Points"} <= set(dump)
    names = {c["Name"] for c in dump["Counters"]}
    assert "vault.core.response_status_code" in names
    token = client.auth.token.create(policies=["default"])["auth"]["client_token"]
    assert _fresh_get(url, "sys/metrics", token).status_code == 403
    assert _fresh_get(url, "sys/metrics", None).status_code == 403
    bad = _fresh_get(url, "sys/metrics?format=bogus", root)
    assert bad.status_code == 400 and bad.text == 'metric response format "bogus" unknown'


def test_quota_holds_across_workers(two_workers: tuple[str, str, ServerProcess]) -> None:
    url, root, server = two_workers
    client = hvac.Client(url=url, token=root)
    client.sys.create_or_update_quota(
        name="lookups", rate=N, path="auth/token/lookup-self", interval="1h"
    )
    client.adapter.post("/v1/sys/quotas/config", json={"enable_rate_limit_response_headers": True})
    before = bytes_written(worker_pids(server))
    with ThreadPoolExecutor(12) as pool:
        answers = list(
            pool.map(lambda _: _fresh_get(url, "auth/token/lookup-self", root), range(3 * N))
        )
    after = bytes_written(worker_pids(server))
    assert all(after[p] > before[p] for p in before), "both workers must serve"
    codes = sorted(a.status_code for a in answers)
    assert codes == [200] * N + [429] * (2 * N)
    for answer in answers:
        if answer.status_code == 429:
            assert int(answer.headers["Retry-After"]) > 0
            assert answer.headers["X-Ratelimit-Remaining"] == "0"
            assert answer.json()["errors"] == [
                'request path "auth/token/lookup-self": rate limit quota exceeded'
            ]
    text = client.adapter.get("/v1/sys/metrics", params={"format": "prometheus"}).text
    assert _metric(text, 'vault_quota_rate_limit_violation{name="lookups"}') == 2 * N
    client.sys.delete_quota("lookups")
    assert _fresh_get(url, "auth/token/lookup-self", root).status_code == 200
