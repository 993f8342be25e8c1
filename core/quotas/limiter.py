"""The rate limiter's counters: Vault's per-client fixed window, shared by every worker process of
a node through one small SQLite file.

Each (quota, client address) bucket holds `round(rate)` requests per window; windows start at the
client's first request and follow each other every `interval`; the first request of a new window
refills the bucket. With `block_interval`, a client that went over is refused for that long.

The file lives in the server's run directory (`WARDGATE_RUN_DIR`, made empty by the server at
start), so it holds per node, across all its workers, and is never shared between nodes (as in
Vault, quotas are per node). It is a cache of counters, not data: no fsync (`synchronous = OFF`).
Without a run directory (a server embedded in a test) the counters live in this process.
"""

from __future__ import annotations

import math
import os
import sqlite3
from dataclasses import dataclass

RUN_DIR_ENV = "WARDGATE_RUN_DIR"
IDLE_SECONDS = 180  # Vault purges buckets idle this long

_SCHEMA = """
CREATE TABLE IF NOT EXISTS buckets (
    quota TEXT NOT NULL,
    client TEXT NOT NULL,
    window_start REAL NOT NULL,
    used INTEGER NOT NULL,
    blocked_until REAL NOT NULL,
    last_seen REAL NOT NULL,
    PRIMARY KEY (quota, client)
)
"""


@dataclass(slots=True, frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset: int  # whole seconds to the next window
    retry_after: int  # whole seconds until a refused client may try again
    blocked: bool = False  # refused because of block_interval (no X-Ratelimit-* headers)


class Limiter:
    def __init__(self, path: str | None = None) -> None:
        if path is None:
            run_dir = os.environ.get(RUN_DIR_ENV)
            path = os.path.join(run_dir, "ratelimit.sqlite") if run_dir else ":memory:"
        # Autocommit; each check is one IMMEDIATE transaction, so two workers never both take
        # the last request of a window.
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA busy_timeout = 5000")
        if path != ":memory:":
            self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = OFF")
        self._db.execute(_SCHEMA)

    def check(
        self,
        quota: str,
        client: str,
        *,
        rate: float,
        interval: float,
        block_interval: float,
        now: float,
    ) -> Verdict:
        limit = max(1, round(rate))
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute(
                "SELECT window_start, used, blocked_until, last_seen FROM buckets "
                "WHERE quota = ? AND client = ?",
                (quota, client),
            ).fetchone()
            if row is not None and row[2] > now:
                db.execute("COMMIT")
                return Verdict(False, limit, 0, 0, int(row[2] - now), blocked=True)
            if row is None or now - row[3] >= IDLE_SECONDS:
                start, used = now, 0
            else:
                start, used = row[0], row[1]
                if now >= start + interval:
                    start += math.floor((now - start) / interval) * interval
                    used = 0
            allowed = used < limit
            used += 1 if allowed else 0
            blocked_until = now + block_interval if not allowed and block_interval > 0 else 0.0
            db.execute(
                "INSERT OR REPLACE INTO buckets VALUES (?, ?, ?, ?, ?, ?)",
                (quota, client, start, used, blocked_until, now),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        reset = int(start + interval - now)
        retry_after = int(block_interval) if blocked_until else reset
        return Verdict(allowed, limit, limit - used, reset, retry_after)

    def forget(self, quota: str) -> None:
        """A quota was deleted or changed: its buckets start over."""
        self._db.execute("DELETE FROM buckets WHERE quota = ?", (quota,))

    def purge(self, now: float) -> None:
        self._db.execute(
            "DELETE FROM buckets WHERE last_seen < ? AND blocked_until < ?",
            (now - IDLE_SECONDS, now),
        )

    def close(self) -> None:
        self._db.close()
