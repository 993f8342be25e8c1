"""Metrics' update path in multiprocess mode (as `wardgate server` runs it): the values that
bypass prometheus_client's per-call wrapper land in the shared files exactly as its own
updates would, a forked process writes its own file, and a scrape adds them up."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

_SCRIPT = textwrap.dedent(
    """
    import os
    from core.metrics import Metrics

    m = Metrics()
    for ms in (1.5, 2.5, 4.0):
        m.observe_ms("wardgate.storage.get", ms)
    m.observe_ms("wardgate.sts.call", 3.0, {"region": "cn-hangzhou"})
    m.incr("vault.core.response_status_code", {"code": "200", "type": "2xx"})
    m.incr("vault.core.response_status_code", {"type": "2xx", "code": "200"}, 2)
    m.incr("wardgate.alicloud.nonce.rejected")
    try:
        m.incr("wardgate.alicloud.nonce.rejected", None, -1)
    except ValueError:
        print("negative refused")
    pid = os.fork()
    if pid == 0:
        m.incr("wardgate.alicloud.nonce.rejected", None, 5)
        m.observe_ms("wardgate.storage.get", 10.0)
        os._exit(0)
    os.waitpid(pid, 0)
    names = os.listdir(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    files = sorted(name.split("_")[0] for name in names)
    print("files", files)
    print(Metrics().prometheus_text().decode())
    """
)


def test_multiprocess_updates_are_summed_across_processes(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT], env=env, cwd=root, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "negative refused" in text
    # Parent and forked child each wrote their own counter and summary files.
    assert "files ['counter', 'counter', 'summary', 'summary']" in text
    assert "wardgate_storage_get_count 4.0" in text
    assert "wardgate_storage_get_sum 18.0" in text
    assert 'wardgate_sts_call_count{region="cn-hangzhou"} 1.0' in text
    assert 'vault_core_response_status_code{code="200",type="2xx"} 3.0' in text
    assert "wardgate_alicloud_nonce_rejected 6.0" in text
