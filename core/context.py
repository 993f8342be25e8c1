"""What the built-in backends (`sys/`, `auth/token/`) are handed, as a plugin is handed a
`BackendContext`.

They are the core's own business, so they see more than a plugin (the token store, the policies,
the mount table), but they get it as a value built by the Runtime instead of importing the
Runtime that builds them: the dependency runs one way, Runtime -> backends -> this module.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from core.acl import Authorizer
from core.audit import AuditBroker
from core.config import Config
from core.framework.path import Backend, Clock, MountInfo
from core.metrics import Metrics
from core.mounts import MountEntry, MountTable
from core.policy import PolicyStore
from core.quotas import QuotaManager
from core.registry import PluginRegistry
from core.storage.base import Storage
from core.tokens.store import TokenStore
from core.wrapping import WrapStore


@dataclass(slots=True)
class Mounted:
    """A backend serving requests under `prefix` (e.g. `auth/alicloud/`)."""

    prefix: str
    backend: Backend
    info: MountInfo
    entry: MountEntry | None  # None for sys/


class MountLookup(Protocol):
    """The live mounts, kept in step with the stored table (the Router)."""

    async def mounted(self) -> list[Mounted]:
        """The auth mounts."""
        ...

    async def all_mounted(self) -> list[Mounted]:
        """Everything that serves requests: sys/ and the auth mounts."""
        ...

    async def by_accessor(self, accessor: str) -> Mounted | None: ...

    async def accessor_live(self, accessor: str) -> bool:
        """Whether an auth mount with this accessor exists now (the table is re-read)."""
        ...


@dataclass(frozen=True, slots=True)
class CoreContext:
    config: Config
    registry: PluginRegistry
    clock: Clock
    storage: Storage
    tokens: TokenStore
    wrapping: WrapStore
    policies: PolicyStore
    authorizer: Authorizer
    mounts: MountTable
    router: MountLookup
    cluster_id: str
    # A mount's effective limits (its tuning over the system TTLs).
    mount_info: Callable[[MountEntry], MountInfo]
    # Build a mount's backend once and throw it away, so bad settings fail the enable.
    check_buildable: Callable[[MountEntry], Awaitable[None]]
    # The audit devices (sys/audit manages them).
    audit: AuditBroker
    metrics: Metrics
    quotas: QuotaManager
