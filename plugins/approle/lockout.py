"""Failed-login lockout per role, as Vault's user lockout: after `threshold` bad secret IDs for
one role the role is locked for `duration` (every login, even with the right secret ID, gets
403 `permission denied`); a failure older than `counter_reset` no longer counts; a successful
login clears the count.

One record per role, `lockout/<role>` in the mount's storage view, changed only by atomic
updates, so failures in every server process sharing the storage add up.
"""

from __future__ import annotations

import msgspec

from core.framework import Clock, StorageView
from plugins.approle.role import LOCKOUT_PREFIX, RoleStore


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
        return self.state_of(await self._storage.get(self.key(role)))

    @staticmethod
    def key(role: str) -> str:
        """The storage key of the role's lock record (to read it with other keys at once)."""
        return LOCKOUT_PREFIX + role

    def state_of(self, raw: bytes | None, policy: LockoutPolicy | None = None) -> LockState | None:
        """`state` from the record as read at `key` (None while lockout is disabled)."""
        if (policy or self.policy).disabled or raw is None:
            return None
        return _decoder.decode(raw)

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

    async def locked_roles(self, now: float) -> list[str]:
        """The roles whose record says locked at `now`, whatever policy counted the failures
        (an Infisical identity can lock a role on a mount whose own lockout is off)."""
        locked = []
        for role in await self._storage.list(LOCKOUT_PREFIX):
            raw = await self._storage.get(LOCKOUT_PREFIX + role)
            if raw is not None and self.is_locked(_decoder.decode(raw), now):
                locked.append(role)
        return locked


class LockedRoles:
    """sys/locked-users' view of the mount (core.framework.UserLockout): Vault names a locked
    AppRole user by its role ID, the counters here are kept per role name."""

    def __init__(self, lockout: Lockout, roles: RoleStore, clock: Clock) -> None:
        self._lockout = lockout
        self._roles = roles
        self._clock = clock

    async def locked_users(self) -> list[str]:
        role_ids = []
        for name in await self._lockout.locked_roles(self._clock.now()):
            role = await self._roles.get(name)
            if role is not None:  # a deleted role's record is moot: nobody can log in to it
                role_ids.append(role.role_id)
        return role_ids

    async def unlock_user(self, alias: str) -> None:
        name = await self._roles.name_for_role_id(alias)
        if name is not None:
            await self._lockout.clear(name)
