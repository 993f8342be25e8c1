"""The auto-auth loop, as recorded from Vault Agent: log in; renew at about 2/3 of the remaining
lease (plus a third of a 10-20 % grace); log in again at once when the lease left is within the
grace (max TTL reached) or a renewal is refused; back off exponentially, with jitter, while
logins fail. One log line per event; tokens never reach a log line (accessors do)."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from core.agent.client import Lease, ServerRefused, ServerUnavailable, login, renew
from core.agent.config import AgentConfig
from core.agent.sink import FileSinkWriter

log = logging.getLogger("wardgate.agent")

LoginBody = Callable[[], Awaitable[dict[str, Any]]]


class Backoff:
    """Wait `current`, then double it up to `maximum`, less a random 0-25 % (Vault's)."""

    def __init__(self, minimum: float, maximum: float) -> None:
        self.minimum, self.maximum = minimum, maximum
        self.current = minimum

    def next(self) -> float:
        delay = self.current
        self.current = min(2 * self.current, self.maximum) * (1 - random.uniform(0, 0.25))
        self.current = max(self.current, self.minimum)
        return delay

    def reset(self) -> None:
        self.current = self.minimum


class AutoAuth:
    def __init__(
        self,
        config: AgentConfig,
        http: httpx.AsyncClient,
        login_body: LoginBody,
        sinks: list[FileSinkWriter],
        stopped: asyncio.Event,
        infisical_method: str = "",
    ) -> None:
        self.config = config
        self.http = http
        self.login_body = login_body
        self.sinks = sinks
        self.stopped = stopped
        self.infisical_method = infisical_method

    async def run(self) -> int:
        """Until stopped (exit code 0), or a login error with exit_on_err (1)."""
        method = self.config.method
        backoff = Backoff(method.min_backoff, method.max_backoff)
        while not self.stopped.is_set():
            try:
                body = await self.login_body()
                lease = await login(self.http, method.mount_path, body, self.infisical_method)
            except (ServerRefused, ServerUnavailable, ValueError) as exc:
                if method.exit_on_err:
                    log.error(
                        "login at %s failed: %s; exiting (exit_on_err)",
                        method.mount_path,
                        _redact(str(exc)),
                    )
                    return 1
                delay = backoff.next()
                log.warning(
                    "login at %s failed: %s; next attempt in %.1fs",
                    method.mount_path,
                    _redact(str(exc)),
                    delay,
                )
                await self._sleep(delay)
                continue
            backoff.reset()
            changed = [w.sink.path for w in self.sinks if w.write(lease.token)]
            log.info(
                "logged in at %s (accessor %s, ttl %ds, renewable %s); wrote %s",
                method.mount_path,
                lease.accessor or "-",
                lease.duration,
                str(lease.renewable).lower(),
                ", ".join(map(str, changed)) or "no sink",
            )
            if self.config.exit_after_auth:
                return 0
            reason = await self.keep_alive(lease)
            if reason:
                log.info("logging in again: %s", reason)
        return 0

    async def keep_alive(self, lease: Lease) -> str:
        """Renew until the token must be replaced; returns why ("" when stopped)."""
        received, duration = time.monotonic(), lease.duration
        grace = _grace(duration)
        backoff = Backoff(self.config.method.min_backoff, self.config.method.max_backoff)
        retrying = False
        while not self.stopped.is_set():
            if duration == 0:
                await self.stopped.wait()  # a token that never expires needs no renewal
                return ""
            remaining = duration - (time.monotonic() - received)
            if retrying:
                delay = backoff.next()
                if remaining - delay <= grace:
                    return "the server stays unreachable and the token is about to expire"
            elif not lease.renewable:
                await self._sleep(max(0.0, remaining - grace))
                return "the token is not renewable and about to expire"
            else:
                delay = remaining * 2 / 3 + grace / 3
                if remaining <= grace or remaining - delay <= grace:
                    return "the token reached its max TTL"
            if await self._sleep(delay):
                return ""
            try:
                renewed = await renew(self.http, lease)
            except ServerRefused as exc:
                return f"renewal refused ({_redact(str(exc), lease.token)})"
            except ServerUnavailable as exc:
                log.warning("renewal failed: %s; retrying", _redact(str(exc), lease.token))
                retrying = True
                continue
            if retrying:
                log.info("renewal works again")
                retrying, backoff = False, Backoff(backoff.minimum, backoff.maximum)
            if renewed.duration > duration:
                grace = _grace(renewed.duration)  # only while the lease grows, as Vault
            received, duration = time.monotonic(), renewed.duration
            if renewed.token != lease.token:  # Infisical's renewal may hand out a new token
                for writer in self.sinks:
                    writer.write(renewed.token)
            lease = Lease(
                renewed.token, lease.accessor, duration, renewed.renewable, lease.infisical
            )
            log.info("renewed (accessor %s, ttl %ds)", lease.accessor or "-", duration)
        return ""

    async def _sleep(self, seconds: float) -> bool:
        """Sleep, waking early when stopped; True when stopped."""
        try:
            await asyncio.wait_for(self.stopped.wait(), timeout=max(0.0, seconds))
        except TimeoutError:
            return False
        return True


def _grace(duration: int) -> float:
    return duration * random.uniform(0.1, 0.2)


def _redact(text: str, *secrets: str) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<redacted>")
    return " ".join(text.split())
