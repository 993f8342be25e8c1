"""Telemetry: Vault's metric names (where the concept exists) plus wardgate's own, counted right
across worker processes, rendered as Prometheus text 0.0.4 or go-metrics JSON for `sys/metrics`.

With several workers, prometheus_client's multiprocess mode does the sharing: the server points
`PROMETHEUS_MULTIPROC_DIR` at an emptied directory before any worker starts (`prepare_dir`),
every process writes its values to memory-mapped files there, and a scrape merges them, so one
scrape sees every worker. Without that variable (a server embedded in a test) the values live in
this process only. prometheus_client is imported when `Metrics` is built, after the variable is
set, because it picks its storage at import time.

Names are Vault's dotted go-metrics names (`vault.core.handle_request`); Prometheus sees them with
`_` for `.` (`vault_core_handle_request`), counters without `_total`, timers as summaries in
milliseconds.
"""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE_TEXT = "text/plain; version=0.0.4; charset=utf-8"

# Vault's creation_ttl buckets (metricsutil/bucket.go).
_TTL_BUCKETS = [
    (60, "1m"),
    (600, "10m"),
    (1200, "20m"),
    (3600, "1h"),
    (7200, "2h"),
    (86400, "1d"),
    (2 * 86400, "2d"),
    (7 * 86400, "7d"),
    (30 * 86400, "30d"),
]


def ttl_bucket(seconds: int) -> str:
    if seconds <= 0:
        return "+Inf"
    for limit, name in _TTL_BUCKETS:
        if seconds <= limit:
            return name
    return "+Inf"


def prepare_dir(configured: str = "") -> str:
    """Point `PROMETHEUS_MULTIPROC_DIR` at an empty directory (called by the server before any
    worker starts): the given one or the variable's, emptied of an earlier run's files, else a
    new temporary directory. Returns it."""
    import tempfile

    path = os.environ.get(MULTIPROC_ENV) or configured
    if path:
        os.makedirs(path, exist_ok=True)
        for stale in glob.glob(os.path.join(path, "*.db")) + glob.glob(
            os.path.join(path, "ratelimit.sqlite*")
        ):
            os.remove(stale)
    else:
        path = tempfile.mkdtemp(prefix="wardgate-run-")
        atexit.register(shutil.rmtree, path, True)
    os.environ[MULTIPROC_ENV] = path
    return path


def _forget_dead_processes(path: str) -> None:
    """Live gauges of a worker that is gone (restarted, killed) must not count any more."""
    from prometheus_client import multiprocess

    for name in glob.glob(os.path.join(path, "gauge_live*_*.db")):
        pid = int(name.rsplit("_", 1)[1].split(".")[0])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid, path)  # type: ignore[no-untyped-call]
        except PermissionError:
            pass


class Metrics:
    """One per process. `incr` and `observe_ms` create a metric on its first use, so plugins
    emit theirs through the same two calls (see `core.framework.path.Telemetry`)."""

    def __init__(self) -> None:
        import prometheus_client

        self._pc = prometheus_client
        self._dir = os.environ.get(MULTIPROC_ENV, "")
        if self._dir:
            _forget_dead_processes(self._dir)
        self._registry = prometheus_client.CollectorRegistry(auto_describe=False)
        self._metrics: dict[str, Any] = {}
        self._dotted: dict[str, str] = {}
        # The hot path (every storage operation is timed): per (name, labels), a writer of the
        # child's values, so an update is a dict hit and the value writes (see _writer).
        self._writers: dict[Any, Callable[[float], None]] = {}
        self._lock = threading.Lock()
        # A forked child must go through prometheus_client once more (it moves a child's
        # values to the child's own files on its first update).
        os.register_at_fork(after_in_child=self._writers.clear)

    def _get(self, kind: str, name: str, labels: Iterable[str], **extra: Any) -> Any:
        metric = self._metrics.get(name)
        if metric is None:
            prom = name.replace(".", "_").replace("-", "_").replace("/", "_")
            factory = {
                "counter": self._pc.Counter,
                "summary": self._pc.Summary,
                "gauge": self._pc.Gauge,
            }[kind]
            metric = factory(prom, prom, list(labels), registry=self._registry, **extra)
            self._metrics[name] = metric
            self._dotted[prom] = name
        return metric

    def incr(self, name: str, labels: Mapping[str, str] | None = None, amount: float = 1) -> None:
        if amount < 0:
            raise ValueError("counters can only be incremented by non-negative amounts")
        self._update("counter", name, labels, amount)

    def observe_ms(self, name: str, ms: float, labels: Mapping[str, str] | None = None) -> None:
        self._update("summary", name, labels, ms)

    def _update(self, kind: str, name: str, labels: Mapping[str, str] | None, x: float) -> None:
        key = (kind, name, *sorted(labels.items())) if labels else (kind, name)
        with self._lock:
            write = self._writers.get(key)
            if write is None:
                metric = self._get(kind, name, sorted(labels or ()))
                child = metric.labels(**labels) if labels else metric
                write = (
                    _summary_writer(child)
                    if kind == "summary"
                    else _writer(child._value, child.inc)
                )
                self._writers[key] = write
            write(x)

    def gauge_add(self, name: str, amount: float) -> None:
        self._get("gauge", name, (), multiprocess_mode="livesum").inc(amount)

    # -- the core's own events ---------------------------------------------------------------

    def token_created(
        self, *, auth_method: str, mount_point: str, ttl: int, token_type: str
    ) -> None:
        labels = {
            "auth_method": auth_method,
            "creation_ttl": ttl_bucket(ttl),
            "mount_point": mount_point,
            "namespace": "root",
            "token_type": token_type,
        }
        self.incr("vault.token.creation", labels)

    def request_done(self, *, login: bool, status: int, started: float) -> None:
        name = "vault.core.handle_login_request" if login else "vault.core.handle_request"
        self.observe_ms(name, (time.perf_counter() - started) * 1000)
        self.incr(
            "vault.core.response_status_code", {"code": str(status), "type": f"{status // 100}xx"}
        )

    # -- scraping ----------------------------------------------------------------------------

    def _families(self) -> list[Any]:
        if not self._dir:
            return list(self._registry.collect())
        from prometheus_client import multiprocess

        registry = self._pc.CollectorRegistry(auto_describe=False)
        multiprocess.MultiProcessCollector(registry, self._dir)  # type: ignore[no-untyped-call]
        return sorted(registry.collect(), key=lambda family: family.name)

    def prometheus_text(self) -> bytes:
        from prometheus_client.utils import floatToGoString

        lines: list[str] = []
        for family in self._families():
            samples = [s for s in family.samples if not s.name.endswith("_created")]
            if not samples:
                continue
            lines.append(f"# HELP {family.name} {family.name}")
            lines.append(f"# TYPE {family.name} {family.type}")
            for sample in samples:
                name = sample.name
                if family.type == "counter" and name.endswith("_total"):
                    name = name[: -len("_total")]  # Vault's counters carry no _total
                value = floatToGoString(sample.value)  # type: ignore[no-untyped-call]
                lines.append(f"{name}{_labels(sample.labels)} {value}")
        return ("\n".join(lines) + "\n").encode() if lines else b""

    def json_dump(self) -> dict[str, Any]:
        """go-metrics' in-memory shape. Values are totals since the server started (Vault's
        are per 10-second interval)."""
        gauges: list[dict[str, Any]] = []
        counters: list[dict[str, Any]] = []
        samples: list[dict[str, Any]] = []
        for family in self._families():
            dotted = self._dotted.get(family.name, family.name.replace("_", "."))
            if family.type == "gauge":
                for s in family.samples:
                    gauges.append({"Name": dotted, "Value": s.value, "Labels": dict(s.labels)})
            elif family.type == "counter":
                for s in family.samples:
                    if s.name.endswith("_total"):
                        counters.append(_aggregate(dotted, s.value, s.value, dict(s.labels)))
            elif family.type == "summary":
                by_labels: dict[tuple[tuple[str, str], ...], dict[str, float]] = {}
                for s in family.samples:
                    key = tuple(sorted(s.labels.items()))
                    by_labels.setdefault(key, {})[s.name.rsplit("_", 1)[1]] = s.value
                for key, values in by_labels.items():
                    count, total = values.get("count", 0.0), values.get("sum", 0.0)
                    samples.append(_aggregate(dotted, count, total, dict(key)))
        stamp = time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime())
        return {
            "Timestamp": stamp,
            "Gauges": gauges,
            "Points": [],
            "Counters": counters,
            "Samples": samples,
        }


def _writer(value: Any, fallback: Callable[[float], None]) -> Callable[[float], None]:
    """`fallback` (prometheus_client's own update), or for a multiprocess value the same
    update without prometheus_client's per-call overhead: its module lock and its fork check
    (a `getpid` system call) on every update, ~4 us per summary observation, 9 of which a
    login made. Sound because every update of this process goes through `Metrics` under
    `Metrics._lock`, and a fork clears the writers (see `Metrics.__init__`)."""
    if not getattr(value, "_multiprocess", False):
        return fallback
    value.get()  # prometheus_client's fork check, once: the value's file is this process's
    file, key = value._file, value._key

    def write(amount: float) -> None:
        value._value += amount
        file.write_value(key, value._value, 0.0)

    return write


def _summary_writer(child: Any) -> Callable[[float], None]:
    if not getattr(child._count, "_multiprocess", False):
        return child.observe  # type: ignore[no-any-return]
    count = _writer(child._count, child._count.inc)
    total = _writer(child._sum, child._sum.inc)

    def observe(amount: float) -> None:
        count(1)
        total(amount)

    return observe


def _aggregate(name: str, count: float, total: float, labels: dict[str, str]) -> dict[str, Any]:
    mean = total / count if count else 0.0
    return {
        "Name": name,
        "Count": int(count),
        "Rate": 0.0,
        "Sum": total,
        "Min": 0.0,
        "Max": 0.0,
        "Mean": mean,
        "Stddev": 0.0,
        "Labels": labels,
    }


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    parts = []
    for key in sorted(labels):
        value = labels[key].replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
        parts.append(f'{key}="{value}"')
    return "{" + ",".join(parts) + "}"
