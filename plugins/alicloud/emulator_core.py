"""The STS emulator's model and checks, without any HTTP: identities, state, `verify`.

`emulator.py` wraps this in a Starlette app; keeping the checks here keeps both small and
lets the verification order be read in one place.
"""

from __future__ import annotations

import hmac
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

import msgspec

from plugins.alicloud.signer import STS_API_VERSION, parse_timestamp, sign_string, string_to_sign

NONCE_RETENTION = timedelta(minutes=31)  # the gateway's observed window (alibaba-sts.md §5)
FAULTS = ("http500", "throttle", "garbage", "huge", "redirect")


class Identity(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A key the emulator knows, and what GetCallerIdentity reports for it (§4)."""

    access_key_id: str
    access_key_secret: str
    arn: str
    account_id: str
    identity_type: Literal["RAMUser", "AssumedRoleUser", "Account"]
    principal_id: str
    user_id: str = ""
    role_id: str = ""
    security_token: str | None = None
    disabled: bool = False

    def __post_init__(self) -> None:
        if self.access_key_id.startswith("STS.") and not self.security_token:
            raise ValueError(f"{self.access_key_id}: an STS. key needs a security_token")


class StsFault(Exception):
    """An STS error answer: code, HTTP status and STS's message text."""

    def __init__(self, code: str, status: int, message: str) -> None:
        super().__init__(code)
        self.code = code
        self.status = status
        self.message = message


def _missing(name: str) -> StsFault:
    return StsFault(f"Missing{name}", 400, f"{name} is mandatory for this action.")


class EmulatorState:
    """Everything a test may want to look at or change: identities, faults, counters."""

    def __init__(
        self,
        identities: list[Identity],
        clock: Callable[[], datetime],
        max_skew_seconds: int,
    ) -> None:
        self.identities: dict[str, Identity] = {}
        for identity in identities:
            if identity.access_key_id in self.identities:
                raise ValueError(f"duplicate access_key_id {identity.access_key_id!r}")
            self.identities[identity.access_key_id] = identity
        self.clock = clock
        self.max_skew = timedelta(seconds=max_skew_seconds)
        self.request_count = 0
        self._fault: str | None = None
        # STS keeps nonces network-wide, not per key; a deque in expiry order makes pruning
        # cheap (expiries are appended in clock order).
        self._nonces: dict[str, datetime] = {}
        self._nonce_expiry: deque[tuple[datetime, str]] = deque()

    @property
    def fault(self) -> str | None:
        return self._fault

    @fault.setter
    def fault(self, value: str | None) -> None:
        if value is not None and value not in FAULTS:
            kind, _, seconds = value.partition(":")
            if kind != "slow" or not seconds:
                raise ValueError(f"unknown fault {value!r}")
            float(seconds)  # raises on a malformed delay
        self._fault = value

    def nonce_used(self, nonce: str, now: datetime) -> bool:
        while self._nonce_expiry and self._nonce_expiry[0][0] <= now:
            _, old = self._nonce_expiry.popleft()
            if self._nonces.get(old, now) <= now:
                self._nonces.pop(old, None)
        expiry = self._nonces.get(nonce)
        return expiry is not None and expiry > now

    def record_nonce(self, nonce: str, now: datetime) -> None:
        self._nonces[nonce] = now + NONCE_RETENTION
        self._nonce_expiry.append((now + NONCE_RETENTION, nonce))


def verify(state: EmulatorState, method: str, params: dict[str, str]) -> Identity:
    """STS's checks, in the order alibaba-sts.md §1.4 recommends; raises StsFault."""
    for name in ("Action", "Version"):
        if name not in params:
            raise StsFault(
                "MissingParameter",
                400,
                f'The input parameter "{name}" that is mandatory for processing this '
                "request is not supplied.",
            )
    for name in ("AccessKeyId", "Signature", "SignatureMethod", "SignatureNonce", "Timestamp"):
        if not params.get(name):
            raise _missing(name)
    if params["SignatureMethod"] != "HMAC-SHA1":
        raise StsFault("InvalidSignatureMethod", 400, "Specified signature method is not valid.")
    if params.get("SignatureVersion") != "1.0":
        raise StsFault("InvalidSignatureVersion", 400, "Specified signature version is not valid.")
    now = state.clock()
    try:
        stamp = parse_timestamp(params["Timestamp"])
    except ValueError:
        raise StsFault(
            "InvalidTimeStamp.Format",
            400,
            "Specified time stamp or date value is not well formatted.",
        ) from None
    if abs(now - stamp) > state.max_skew:
        raise StsFault(
            "InvalidTimeStamp.Expired", 400, "Specified time stamp or date value is expired."
        )
    identity = state.identities.get(params["AccessKeyId"])
    if identity is None:
        raise StsFault("InvalidAccessKeyId.NotFound", 404, "Specified access key is not found.")
    if identity.disabled:
        raise StsFault("InvalidAccessKeyId.Inactive", 400, "Specified access key is disabled.")
    if identity.access_key_id.startswith("STS."):
        token = params.get("SecurityToken")
        if not token:
            raise _missing("SecurityToken")
        if not hmac.compare_digest(token.encode(), (identity.security_token or "").encode()):
            raise StsFault(
                "InvalidSecurityToken.MismatchWithAccessKey",
                400,
                "Specified SecurityToken mismatch with the AccessKey.",
            )
    text = string_to_sign(method, params)  # Signature itself is excluded from the canonical form
    expected = sign_string(text, identity.access_key_secret)
    if not hmac.compare_digest(expected.encode(), params["Signature"].encode()):
        raise StsFault(
            "SignatureDoesNotMatch",
            400,
            "Specified signature is not matched with our calculation. "
            f"server string to sign is:{text}",
        )
    if state.nonce_used(params["SignatureNonce"], now):
        raise StsFault("SignatureNonceUsed", 400, "Specified signature nonce was used already.")
    state.record_nonce(params["SignatureNonce"], now)
    if params["Action"] != "GetCallerIdentity" or params["Version"] != STS_API_VERSION:
        raise StsFault(
            "InvalidApi.NotFound",
            404,
            "Specified api is not found,please check your url and method.",
        )
    return identity


def load_identities(path: str | Path) -> list[Identity]:
    """Identities from a JSON file (format in the module docstring)."""
    return msgspec.json.decode(Path(path).read_bytes(), type=list[Identity])


DEMO_ACCOUNT = "1234567890123456"


def demo_identities() -> list[Identity]:
    """Built-in identities for the dev server. Made-up keys: they open nothing anywhere else."""
    return [
        Identity(
            access_key_id="STS.DemoRoleAccessKey000001",
            access_key_secret="DemoRoleAccessKeySecret0000000001",
            security_token="CAIS+DemoSecurityToken/ForTheWardgateDevServer==",
            arn=f"acs:ram::{DEMO_ACCOUNT}:assumed-role/demo/wardgate-dev",
            account_id=DEMO_ACCOUNT,
            identity_type="AssumedRoleUser",
            principal_id="300000000000000001:wardgate-dev",
            role_id="300000000000000001",
        ),
        Identity(
            access_key_id="LTAI5tDemoUserAccessKey01",
            access_key_secret="DemoUserAccessKeySecret0000000001",
            arn=f"acs:ram::{DEMO_ACCOUNT}:user/alice",
            account_id=DEMO_ACCOUNT,
            identity_type="RAMUser",
            principal_id="200000000000000001",
            user_id="200000000000000001",
        ),
    ]
