"""The one login core of the AliCloud method, whichever face the login came through.

Order matters for safety: everything checkable locally (the signed request's shape and host,
the timestamp window, the caller's own precondition such as bound CIDRs) runs before the
SignatureNonce is claimed, and the nonce is claimed before the one outbound request to STS.
What the caller is allowed to be (a role binding on Vault's face, an identity's allowed ARNs on
Infisical's) is matched afterwards with `plugins.alicloud.arn`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from core.framework.errors import WardgateError
from core.framework.path import Clock, Telemetry
from plugins.alicloud.nonce import NonceReused
from plugins.alicloud.sts import (
    CallerIdentity,
    NonceLedger,
    StsClient,
    ValidatedRequest,
    validate_signed_request,
)

# What a failed STS call without an STS error code is counted as, by its status.
_FAILURES = {502: "unreachable", 504: "timeout"}


class CallerVerifier:
    def __init__(
        self,
        sts: StsClient,
        nonces: NonceLedger,
        clock: Clock,
        timestamp_window: int,
        *,
        telemetry: Telemetry | None = None,
    ) -> None:
        self._telemetry = telemetry
        self._sts = sts
        self._nonces = nonces
        self._clock = clock
        self._window = timestamp_window

    async def verify(
        self,
        url: str,
        method: str,
        headers: Iterable[tuple[str, str]],
        *,
        before_sts: Callable[[], None] | None = None,
    ) -> CallerIdentity:
        """Prove the signed GetCallerIdentity request with STS; returns who signed it.

        `before_sts` runs after the local checks and before the nonce is claimed (a refusal
        there leaves the signed request usable from where it is allowed).
        """
        now = datetime.fromtimestamp(self._clock.now(), UTC)
        signed = validate_signed_request(
            url, method, list(headers), now=now, max_skew_seconds=self._window
        )
        if before_sts is not None:
            before_sts()
        try:
            await self._nonces.claim(signed.nonce, signed.timestamp, now, self._window)
        except NonceReused:
            if self._telemetry is not None:
                self._telemetry.incr("wardgate.alicloud.nonce.rejected")
            raise
        return await self._timed_sts_call(signed)

    async def _timed_sts_call(self, signed: ValidatedRequest) -> CallerIdentity:
        """The STS replay, timed, with its outcome: `ok`, STS's error code, or what failed."""
        started = time.perf_counter()
        outcome = "ok"
        try:
            return await self._sts.get_caller_identity(signed)
        except WardgateError as exc:
            outcome = str(getattr(exc, "code", "") or _FAILURES.get(exc.status, "error"))
            raise
        finally:
            if self._telemetry is not None:
                ms = (time.perf_counter() - started) * 1000
                self._telemetry.observe_ms(
                    "wardgate.alicloud.sts.request", ms, {"outcome": outcome}
                )
