"""Signed AliCloud login requests, made in Python before a run and fed to wrk from a file.

A login needs a fresh `SignatureNonce` every time (wardgate and STS both refuse a reused one),
and wrk's Lua cannot sign HMAC-SHA1, so each run gets its own file of pre-signed requests, one
per line, more of them than the run can send (see `wrk.feed_script`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from plugins.alicloud.emulator_core import Identity
from plugins.alicloud.signer import sign_get_caller_identity

ACCOUNT = "1234567890123456"
REGION = "cn-hangzhou"
ROLE_ARN = f"acs:ram::{ACCOUNT}:role/bench"

# A made-up identity that only the harness's own STS emulator knows.
IDENTITY = Identity(
    access_key_id="STS.BenchRoleAccessKey00001",
    access_key_secret="BenchRoleAccessKeySecret00000001",
    security_token="CAIS+BenchSecurityToken/OnlyForTheBenchEmulator==",
    arn=f"acs:ram::{ACCOUNT}:assumed-role/bench/bench-session",
    account_id=ACCOUNT,
    identity_type="AssumedRoleUser",
    principal_id="300000000000000009:bench-session",
    role_id="300000000000000009",
)


def write_identities(path: Path) -> None:
    """The emulator's `--identities` file (format: plugins/alicloud/emulator.py docstring)."""
    path.write_bytes(msgspec.json.encode([IDENTITY]))


def _sign(now: datetime) -> tuple[str, dict[str, str], dict[str, str]]:
    signed = sign_get_caller_identity(
        IDENTITY.access_key_id,
        IDENTITY.access_key_secret,
        region=REGION,
        security_token=IDENTITY.security_token,
        timestamp=now,
    )
    return signed.url, signed.headers, signed.login_data()


def login_headers() -> dict[str, str]:
    """The headers of a signed STS request (the same for every request)."""
    return _sign(datetime.now(UTC))[1]


def write_login_feed(path: Path, count: int, role: str) -> None:
    """`count` wardgate login bodies (Vault's form: identity_request_url/headers + role)."""
    now = datetime.now(UTC)
    with path.open("w") as out:
        for _ in range(count):
            body = _sign(now)[2]
            body["role"] = role
            out.write(json.dumps(body, separators=(",", ":")))
            out.write("\n")


def write_sts_feed(path: Path, count: int) -> None:
    """`count` request paths (`/?<signed query>`) to send straight to the STS emulator, as
    wardgate replays them (POST, the signed headers, empty body)."""
    now = datetime.now(UTC)
    with path.open("w") as out:
        for _ in range(count):
            url = _sign(now)[0]
            out.write("/?" + url.split("?", 1)[1])
            out.write("\n")
