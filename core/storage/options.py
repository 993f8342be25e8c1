"""Backend settings that need no driver to describe (so importing them loads none)."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True, slots=True)
class PostgresOptions:
    """The "postgresql" backend's settings; the pool is per server process (per worker)."""

    dsn: str
    pool_min: int = 2
    pool_max: int = 8
    connect_timeout: float = 5.0
    statement_timeout: float = 5.0
