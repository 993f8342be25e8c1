"""Stored policies and a per-process cache of compiled ACLs that stays correct across processes.

Layout under the storage this store is given (the lead mounts it at e.g. `sys/policy/`):
  acl/<name>   a PolicyRecord (JSON)
  generation   a counter bumped (atomically, with Storage.update) after every change

Cache correctness: `compiled()` reads `generation` BEFORE reading any policy, and every write
changes a policy BEFORE bumping `generation`. So an ACL cached under generation G was built
from policies at least as new as G, and any later change makes the next call see G' != G and
rebuild. A change made through any process therefore applies to live tokens on their next
request. Cost: one small storage read per `compiled()` call, which a request makes together with
its other reads at its start (core/tables.py), so it costs no round trip of its own; policies
are only re-read and re-parsed after a change.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable

import msgspec

from core.framework.errors import InternalError
from core.framework.path import Clock
from core.policy.acl import ACL
from core.policy.builtin import DEFAULT, DEFAULT_POLICY_TEXT, ROOT, ROOT_POLICY
from core.policy.model import Policy, PolicyError
from core.policy.parse import normalize_name, parse_policy
from core.storage.base import Storage
from core.tables import RequestTables

log = logging.getLogger("wardgate.policy")

_PREFIX = "acl/"
GENERATION_KEY = "generation"


class PolicyRecord(msgspec.Struct, frozen=True):
    """A policy as stored and as the sys/policy endpoints show it.

    `version` counts writes (1 after the first); `modified` is a unix time. The virtual root
    policy reads as version 0 with no modified time, as OpenBao shows it.
    """

    name: str
    text: str
    version: int
    modified: float | None = None


_ROOT_RECORD = PolicyRecord(name=ROOT, text="", version=0)
_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(PolicyRecord)


class PolicyStore:
    def __init__(
        self, storage: Storage, *, clock: Clock | None = None, cache_size: int = 1024
    ) -> None:
        self._storage = storage
        self._clock = clock or Clock()
        self._cache_size = cache_size
        self._default_ready = False
        # Both caches belong to one generation and are dropped when it changes.
        self._generation: bytes | None = None
        self._acls: OrderedDict[tuple[str, ...], ACL] = OrderedDict()
        self._parsed: dict[str, Policy | None] = {}

    async def ensure_default(self) -> None:
        """Create `default` with the built-in text if it was never written (idempotent)."""
        if self._default_ready:
            return
        key = _PREFIX + DEFAULT
        if await self._storage.get(key) is None:
            fresh = _encoder.encode(
                PolicyRecord(DEFAULT, DEFAULT_POLICY_TEXT, 1, self._clock.now())
            )
            # Atomic create-if-absent: another process may be doing the same right now.
            old, _ = await self._storage.update(key, lambda cur: fresh if cur is None else cur)
            if old is None:
                await self._bump()
        self._default_ready = True

    async def get(self, name: str) -> PolicyRecord | None:
        """The named policy, or None (a name that cannot be valid simply does not exist)."""
        try:
            name = normalize_name(name)
        except PolicyError:
            return None
        if name == ROOT:
            return _ROOT_RECORD
        await self.ensure_default()
        raw = await self._storage.get(_PREFIX + name)
        return None if raw is None else _decoder.decode(raw)

    async def names(self) -> list[str]:
        """Stored policy names sorted, then `root`: the order both sys/policies/acl and the
        legacy sys/policy listing give (Vault appends `root` to the sorted list)."""
        await self.ensure_default()
        return [*await self._storage.list(_PREFIX), ROOT]

    async def put(self, name: str, text: str) -> PolicyRecord:
        """Validate and store a policy; PolicyError (400) names any problem."""
        name = normalize_name(name)
        if name == ROOT:
            raise PolicyError('cannot update "root" policy')
        policy = parse_policy(name, text)  # validates; its text is the decoded document
        now = self._clock.now()

        def write(current: bytes | None) -> bytes:
            version = 0 if current is None else _decoder.decode(current).version
            return _encoder.encode(PolicyRecord(name, policy.text, version + 1, now))

        _, new = await self._storage.update(_PREFIX + name, write)
        await self._bump()
        assert new is not None
        return _decoder.decode(new)

    async def delete(self, name: str) -> None:
        """Remove a policy; a missing one is not an error. `root` and `default` stay."""
        try:
            name = normalize_name(name)
        except PolicyError:
            return
        if name == ROOT:
            raise PolicyError('cannot delete "root" policy')
        if name == DEFAULT:
            raise PolicyError("cannot delete default policy")
        old, _ = await self._storage.update(_PREFIX + name, lambda _cur: None)
        if old is not None:
            await self._bump()

    async def compiled(self, names: Iterable[str], tables: RequestTables | None = None) -> ACL:
        """The ACL of a token holding `names`. Unknown names contribute nothing.

        `tables`: what the request read at its start (core/tables.py), whose generation
        counter then stands for the read here (it was read before any policy read below)."""
        await self.ensure_default()
        if tables is not None:
            generation = tables.policy_generation
        else:
            generation = await self._storage.get(GENERATION_KEY)
        if generation != self._generation:
            self._generation = generation
            self._acls.clear()
            self._parsed.clear()
        key = tuple(sorted({n.lower() for n in names}))
        acl = self._acls.get(key)
        if acl is not None:
            self._acls.move_to_end(key)
            return acl
        policies = [p for n in key if (p := await self._policy(n, generation)) is not None]
        acl = ACL.compile(policies)
        # Another coroutine may have moved the cache to a newer generation meanwhile; this ACL
        # is still right for the request that asked, but must not be filed under that one.
        if self._generation == generation:
            self._acls[key] = acl
            if len(self._acls) > self._cache_size:
                self._acls.popitem(last=False)
        return acl

    async def _policy(self, name: str, generation: bytes | None) -> Policy | None:
        if name == ROOT:
            return ROOT_POLICY
        if name in self._parsed:
            return self._parsed[name]
        raw = await self._storage.get(_PREFIX + name)
        policy: Policy | None = None
        if raw is not None:
            record = _decoder.decode(raw)
            try:
                policy = parse_policy(record.name, record.text)
            except PolicyError as exc:
                # Stored text was valid when written; if it no longer parses, refuse requests
                # rather than drop rules (a dropped deny would widen access).
                raise InternalError(log_detail=f"stored policy {name!r}: {exc.message}") from None
        if self._generation == generation:
            if len(self._parsed) >= self._cache_size * 4:
                self._parsed.clear()  # names tokens carry may not exist: keep this bounded
            self._parsed[name] = policy
        return policy

    async def _bump(self) -> None:
        await self._storage.update(GENERATION_KEY, lambda cur: str(int(cur or b"0") + 1).encode())
