"""Failed-login lockout per role, as Vault's user lockout: after `threshold` bad secret IDs for
one role the role is locked for `duration` (every login, even with the right secret ID, gets
403 `permission denied`); a failure older than `counter_reset` no longer counts; a successful
login clears the count.

One record per role, `lockout/<role>` in the mount's storage view, changed only by atomic
updates, so failures in every server process sharing the storage add up.
"""

from __future__ import annotations

import msgspec

from core.framework import StorageView

LOCKOUT_PREFIX = "lockout/"


class LockoutPolicy(msgspec.Struct, frozen=True):
    threshold: int = 5
    duration: int = 900
    counter_reset: int = 900
    disabled: bool = False


class LockState(msgspec.Struct, kw_only=True):
    failures: int = 0
    last_failure: float = 0.0
    locked_until: float = 0.0


_decoder = msgspec.json.Decoder(LockState)
_encoder = msgspec.json.Encoder()


class Lockout:
    def __init__(self, storage: StorageView, policy: LockoutPolicy) -> None:
        self._storage = storage
        self.policy = policy

    async def state(self, role: str, policy: LockoutPolicy | None = None) -> LockState | None:
        """The role's lock record. `policy` overrides the mount's (an Infisical identity's own
        lockout settings); the counter is the same, whichever face counted it."""
        if (policy or self.policy).disabled:
            return None
        raw = await self._storage.get(LOCKOUT_PREFIX + role)
        return None if raw is None else _decoder.decode(raw)

    @staticmethod
    def is_locked(state: LockState | None, now: float) -> bool:
        return state is not None and state.locked_until > now

    async def record_failure(
        self, role: str, now: float, policy: LockoutPolicy | None = None
    ) -> bool:
        """Count one bad secret ID; returns whether the role is now locked."""
        policy = policy or self.policy
        if policy.disabled:
            return False

        def count(raw: bytes | None) -> bytes:
            state = LockState() if raw is None else _decoder.decode(raw)
            stale = now - state.last_failure > policy.counter_reset
            if (state.locked_until and state.locked_until <= now) or stale:
                state = LockState()  # the lock ran out, or the earlier failures are forgotten
            state.failures += 1
            state.last_failure = now
            if state.failures >= policy.threshold and not state.locked_until:
                state.locked_until = now + policy.duration
            return _encoder.encode(state)

        _, new = await self._storage.update(LOCKOUT_PREFIX + role, count)
        assert new is not None
        return _decoder.decode(new).locked_until > now

    async def clear(self, role: str) -> None:
        await self._storage.delete(LOCKOUT_PREFIX + role)
