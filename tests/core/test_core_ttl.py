"""The TTL arithmetic shared by token create, login and renew (OpenBao's CalculateTTL)."""

from __future__ import annotations

from typing import Any

import pytest

from core.framework.errors import BadRequest
from core.tokens.ttl import calculate_ttl, effective_max, elapsed_seconds

DAY = 86400


def ttl(**kw: Any) -> tuple[int, list[str]]:
    args: dict[str, Any] = {
        "increment": 0,
        "backend_ttl": 0,
        "period": 0,
        "mount_default": DAY,
        "mount_max": 32 * DAY,
        "backend_max": 0,
        "explicit_max": 0,
    }
    args.update(kw)
    result = calculate_ttl(**args)
    return result.ttl, result.warnings


def test_effective_max_takes_the_tightest() -> None:
    assert effective_max(100, 0, 0) == 100
    assert effective_max(100, 50, 0) == 50
    assert effective_max(100, 50, 20) == 20
    assert effective_max(100, 200, 300) == 100


def test_precedence_increment_backend_default() -> None:
    assert ttl() == (DAY, [])
    assert ttl(backend_ttl=600) == (600, [])
    assert ttl(backend_ttl=600, increment=60) == (60, [])


def test_capped_at_the_mount_max_with_a_warning() -> None:
    assert ttl(backend_ttl=3_600_000, mount_max=5400) == (
        5400,
        [
            'TTL of "1000h" exceeded the effective max_ttl of "1h30m"; '
            "TTL value is capped accordingly"
        ],
    )


def test_renewal_is_capped_at_what_is_left_of_the_max() -> None:
    value, warnings = ttl(increment=3600, backend_max=7200, elapsed=5400)
    assert value == 1800
    assert warnings == [
        'TTL of "1h" exceeded the effective max_ttl of "30m"; TTL value is capped accordingly'
    ]


def test_past_the_max_cannot_renew() -> None:
    with pytest.raises(BadRequest) as info:
        ttl(increment=60, explicit_max=600, elapsed=600)
    assert info.value.message == "past the max TTL, cannot renew"


def test_periodic_tokens_escape_the_mount_max_only_through_an_explicit_max() -> None:
    assert ttl(period=3600, increment=99999) == (3600, [])
    assert ttl(period=7200, mount_max=3600) == (
        3600,
        [
            'period of "2h" exceeded the effective max_ttl of "1h"; '
            "period value is capped accordingly"
        ],
    )
    # A long-lived periodic token keeps renewing past the mount max.
    assert ttl(period=3600, mount_max=7200, elapsed=100 * DAY) == (3600, [])
    value, warnings = ttl(period=3600, explicit_max=7200, elapsed=5400)
    assert value == 1800
    assert len(warnings) == 1
    with pytest.raises(BadRequest):
        ttl(period=3600, explicit_max=7200, elapsed=7200)


def test_a_root_token_without_ttl_never_expires() -> None:
    assert ttl(mount_default=0) == (0, [])


def test_elapsed_truncates_both_ends() -> None:
    assert elapsed_seconds(100.9, 101.1) == 1
    assert elapsed_seconds(100.1, 100.9) == 0
    assert elapsed_seconds(200.0, 100.0) == 0
