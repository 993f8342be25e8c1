"""Times as Vault prints them."""

from __future__ import annotations

from datetime import UTC, datetime

ZERO_TIME = "0001-01-01T00:00:00Z"  # Go's zero time: Vault's "never"


def rfc3339(ts: float) -> str:
    """A time as Go's RFC3339Nano prints it: the fraction without trailing zeros, and none at
    all on a whole second (`2026-11-22T08:17:18.2414094Z`, `2026-12-24T08:02:18Z`)."""
    moment = datetime.fromtimestamp(ts, UTC)
    fraction = f"{moment.microsecond:06d}".rstrip("0")
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + "Z"
