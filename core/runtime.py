"""The server's live state: storage, token store, mount router, plugin registry.

One Runtime per server process. It holds no mutable state of its own that another process could
change behind its back: the mount table is re-read per request (see Router) and tokens always
come from storage.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import uuid
from typing import Any

from core.acl import Authorizer
from core.audit import AuditBroker
from core.audit.broker import DeviceEntry, option_strings
from core.config import Config, normalize_mount_path, resolve_secret, resolve_secrets_in
from core.context import CoreContext, Mounted
from core.framework.errors import BadRequest, Unavailable
from core.framework.fields import parse_duration
from core.framework.keyed import KeyedHasher
from core.framework.path import (
    Backend,
    BackendContext,
    Clock,
    MountInfo,
    Operation,
    Path,
    Request,
    Response,
)
from core.metrics import Metrics
from core.mounts import MountEntry, MountTable, MountTuning, decode_table, new_mount
from core.policy import PolicyStore
from core.policy.store import GENERATION_KEY
from core.quotas import QuotaManager
from core.registry import PluginRegistry
from core.storage import open_configured
from core.storage.base import Storage, StorageUnavailable, StorageView
from core.storage.timed import TimedStorage
from core.sys.backend import sys_backend
from core.tables import KEYS as TABLE_KEYS
from core.tables import RequestTables
from core.tokens.backend import token_backend
from core.tokens.store import MAX_TOKEN_LENGTH, TokenEntry, TokenStore, random_id
from core.wrapping import WrapStore

log = logging.getLogger("wardgate")

HMAC_KEY_KEY = "core/token-hmac-key"
CLUSTER_ID_KEY = "core/cluster-id"
ROOT_MARKER_KEY = "core/root-token-generated"
TOKEN_PREFIX = "sys/token/"
POLICY_PREFIX = "sys/policy/"
_POLICY_GENERATION_KEY = POLICY_PREFIX + GENERATION_KEY


class _AlreadyInitialised(Exception):
    """The store has had its root token since an earlier (or a concurrent) start."""


class Runtime:
    def __init__(
        self,
        config: Config,
        registry: PluginRegistry,
        *,
        storage: Storage | None = None,
        clock: Clock | None = None,
        dev_mode: bool = False,
    ) -> None:
        self.config = config
        self.registry = registry
        self.clock = clock or Clock()
        self.dev_mode = dev_mode
        self._given_storage = storage
        self.storage: Storage = storage  # type: ignore[assignment]  # set in start()
        self.tokens: TokenStore
        self.policies: PolicyStore
        self.authorizer: Authorizer
        self.mounts: MountTable
        self.core: CoreContext  # what the built-in backends get; set in start()
        self.hasher: KeyedHasher
        self.wrapping: WrapStore
        self.audit: AuditBroker
        self.metrics = Metrics()
        self.quotas: QuotaManager
        self.router = Router(self)
        self._sweeper: asyncio.Task[None] | None = None
        self.cluster_id = ""

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self, *, sweep: bool = True) -> None:
        if self._given_storage is None:
            self.storage = TimedStorage(await open_configured(self.config.storage), self.metrics)
        try:
            await self._prepare()
        except BaseException:
            # A failed start (a bad mount in the config file, say) must not leave storage
            # threads behind: they would keep the process from exiting.
            if self._given_storage is None:
                await self.storage.close()
            raise
        if sweep:
            self._sweeper = asyncio.create_task(self._sweep_forever())

    async def _prepare(self) -> None:
        self.mounts = MountTable(self.storage)
        server_key = await self._hmac_key()
        # Plugins get keys derived from the server key, one per mount (see core/framework/keyed).
        self.hasher = KeyedHasher(server_key).derive("wardgate plugin keys")
        self.tokens = TokenStore(
            StorageView(self.storage, TOKEN_PREFIX),
            server_key,
            self.clock,
            issuer_alive=self.router.accessor_live,
        )
        self.wrapping = WrapStore(
            StorageView(self.storage, "sys/wrapping/"),
            self.hasher.derive("response wrapping"),
            self.clock,
        )
        self.policies = PolicyStore(StorageView(self.storage, POLICY_PREFIX), clock=self.clock)
        await self.policies.ensure_default()
        self.authorizer = Authorizer(self.policies)
        await self.mounts.ensure_token_mount()
        _, cluster_id = await self.storage.update(
            CLUSTER_ID_KEY, lambda raw: raw or str(uuid.uuid4()).encode()
        )
        self.cluster_id = (cluster_id or b"").decode()
        self.audit = AuditBroker(self.storage, metrics=self.metrics)
        self.quotas = QuotaManager(self.storage)
        self.core = CoreContext(
            config=self.config,
            registry=self.registry,
            clock=self.clock,
            storage=self.storage,
            tokens=self.tokens,
            wrapping=self.wrapping,
            policies=self.policies,
            authorizer=self.authorizer,
            mounts=self.mounts,
            router=self.router,
            cluster_id=self.cluster_id,
            mount_info=self.mount_info,
            check_buildable=self.check_buildable,
            audit=self.audit,
            metrics=self.metrics,
            quotas=self.quotas,
        )
        await self._sync_config_mounts()
        await self._sync_config_audit()

    async def _sync_config_audit(self) -> None:
        devices = [
            DeviceEntry(
                path=device.path.strip("/") + "/",
                type=device.type,
                description=device.description,
                options=option_strings(dict(device.options)),
                from_config=True,
            )
            for device in self.config.audit
        ]
        await self.audit.sync_config(devices, allow_prefix=True)

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        await self.router.close()
        if hasattr(self, "audit"):
            await self.audit.close()
        if hasattr(self, "quotas"):
            self.quotas.close()
        if self._given_storage is None:
            await self.storage.close()

    async def _hmac_key(self) -> bytes:
        configured = resolve_secret(self.config.token.hmac_key, "token.hmac_key")
        if configured:
            return configured.encode()

        def keep_or_create(raw: bytes | None) -> bytes:
            return raw if raw is not None else secrets.token_bytes(32)

        _, key = await self.storage.update(HMAC_KEY_KEY, keep_or_create)
        assert key is not None
        return key

    async def _sync_config_mounts(self) -> None:
        """Mounts in the config file: created if absent, and updated to what the file says
        (description, TTLs, plugin settings) if present, so editing the file and restarting
        takes effect. Each is built once first, so bad plugin settings stop the start."""
        for mount in self.config.auth:
            entry = new_mount(
                normalize_mount_path(mount.path),
                mount.type,
                description=mount.description,
                tuning=MountTuning(
                    default_lease_ttl=parse_duration(mount.default_lease_ttl),
                    max_lease_ttl=parse_duration(mount.max_lease_ttl),
                ),
                plugin_config=dict(mount.config),
            )
            await self.check_buildable(entry)
            change = await self.mounts.sync(entry)
            if change:
                log.info(
                    "%s auth method %s at auth/%s from the config file",
                    change,
                    entry.type,
                    entry.path,
                )

    async def check_buildable(self, entry: MountEntry) -> None:
        """Build a mount's backend once and throw it away: bad settings are an error now,
        not a broken mount later."""
        backend = self.build_backend(entry)
        if backend.close is not None:
            await backend.close()

    async def generate_root_token(self, token_id: str | None = None) -> str | None:
        """Create a root token. Without `token_id`, only on the first start of a database
        (returns None afterwards); with one (dev mode, tests) whenever it does not exist yet."""
        if token_id is not None:
            if await self.tokens.get(self.tokens.hash(token_id)) is not None:
                return token_id
            return await self.issue_root_token(token_id)
        # The marker and the token in one transaction: of several nodes starting at once on
        # an empty database, exactly one creates (and prints) a root token, and a crash can
        # never leave a marker without a token.
        token, ops = self.tokens.creation(self._root_entry())

        def first_start(raw: bytes | None) -> bytes:
            if raw is not None and raw != b"pending":  # "pending": an older, unfinished start
                raise _AlreadyInitialised
            return b"done"

        try:
            await self.storage.update(
                ROOT_MARKER_KEY,
                first_start,
                also=StorageView(self.storage, TOKEN_PREFIX).prefixed(ops),
            )
        except _AlreadyInitialised:
            return None
        return token

    async def issue_root_token(self, token_id: str | None = None) -> str:
        """A new root token, whatever exists (`wardgate operator generate-root`)."""
        return await self.tokens.create(self._root_entry(), token_id=token_id)

    def _root_entry(self) -> TokenEntry:
        return TokenEntry(
            accessor=random_id(24),
            policies=["root"],
            display_name="root",
            path="auth/token/root",
            creation_time=self.clock.now(),
            renewable=False,
        )

    async def _sweep_forever(self) -> None:
        interval = max(1, self.config.server.sweep_interval)
        while True:
            await asyncio.sleep(interval)
            try:
                # One node (process) at a time sweeps; the others skip this round.
                async with self.storage.exclusive("sweep") as mine:
                    if mine:
                        swept = await self.tokens.sweep_expired()
                        if swept:
                            log.info("revoked %d expired tokens", swept)
                        await self.wrapping.sweep_expired()
                        await self.router.sweep_plugins()
                self.quotas.purge(self.clock.now())  # per node: not under the lock
            except StorageUnavailable:
                pass  # the storage has logged the outage; the next round tries again
            except Exception:
                log.exception("background sweep failed; will retry")

    async def request_tables(self, token: str = "") -> RequestTables:
        """What a request reads before routing, with one storage statement (core/tables.py):
        the tables, the policy generation and, if `token` is given, that token's entry."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            mounts, quotas, audit, generation = await self.storage.get_many(
                (*TABLE_KEYS, _POLICY_GENERATION_KEY)
            )
            return RequestTables(mounts, quotas, audit, generation)
        token_hash = self.tokens.hash(token)
        mounts, quotas, audit, generation, entry = await self.storage.get_many(
            (*TABLE_KEYS, _POLICY_GENERATION_KEY, TOKEN_PREFIX + self.tokens.entry_key(token_hash))
        )
        return RequestTables(mounts, quotas, audit, generation, token, token_hash, entry)

    # -- mount helpers -----------------------------------------------------------------------

    def mount_info(self, entry: MountEntry) -> MountInfo:
        return MountInfo(
            path=entry.path,
            type=entry.type,
            accessor=entry.accessor,
            default_lease_ttl=entry.tuning.default_lease_ttl or self.config.default_ttl,
            max_lease_ttl=entry.tuning.max_lease_ttl or self.config.max_ttl,
            token_type=entry.tuning.token_type,
        )

    def build_backend(self, entry: MountEntry) -> Backend:
        info = self.mount_info(entry)
        if entry.type == "token":
            return token_backend(self.core)
        spec = self.registry.get(entry.type)
        if spec is None:
            raise BadRequest(f"plugin not found in the catalog: {entry.type}")
        context = BackendContext(
            storage=StorageView(self.storage, entry.storage_prefix),
            # Secrets stay as `{ env = ... }` references in storage and are resolved here.
            config=resolve_secrets_in(entry.plugin_config, f"auth/{entry.path} config"),
            mount=info,
            logger=logging.getLogger(f"wardgate.auth.{entry.path.rstrip('/')}"),
            clock=self.clock,
            dev_mode=self.dev_mode,
            telemetry=self.metrics,
            hasher=self.hasher.derive("mount " + entry.uuid),
        )
        return spec.factory(context)


def unavailable_backend(message: str) -> Backend:
    async def refuse(req: Request[Any]) -> Response:
        raise Unavailable(message)

    every = {op: refuse for op in Operation}
    return Backend(paths=[Path("{rest*}", every), Path("", every)], help=message)


class Router:
    """Finds the backend for a request path; keeps backends in step with the stored table."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._raw: bytes | None = b"<unloaded>"
        self._by_prefix: dict[str, Mounted] = {}
        self._by_accessor: dict[str, Mounted] = {}
        self._built: dict[str, tuple[bytes, Mounted]] = {}  # uuid -> (entry bytes, mounted)
        self._sys: Mounted | None = None
        self._lock = asyncio.Lock()

    def _sys_mount(self) -> Mounted:
        if self._sys is None:
            info = MountInfo("sys/", "system", "system", 0, 0)
            self._sys = Mounted("sys/", sys_backend(self._runtime.core), info, None)
        return self._sys

    async def refresh(self, tables: RequestTables | None = None) -> None:
        """Rebuild what the stored mount table changed (`tables`: as read at the request's
        start; else read now)."""
        raw = tables.mounts if tables is not None else await self._runtime.mounts.read_raw()
        if raw == self._raw:
            return
        async with self._lock:
            if raw == self._raw:
                return
            await self._rebuild(raw, decode_table(raw))

    async def _rebuild(self, raw: bytes | None, table: list[MountEntry]) -> None:
        import msgspec

        built: dict[str, tuple[bytes, Mounted]] = {}
        for entry in table:
            signature = msgspec.json.encode(entry)
            previous = self._built.get(entry.uuid)
            if previous is not None and previous[0] == signature:
                built[entry.uuid] = previous
                continue
            mounted = Mounted(
                "auth/" + entry.path,
                self._build_or_placeholder(entry),
                self._runtime.mount_info(entry),
                entry,
            )
            built[entry.uuid] = (signature, mounted)
        for uuid_, (_, old) in self._built.items():
            if built.get(uuid_, (b"", None))[1] is not old and old.backend.close is not None:
                await old.backend.close()
        self._built = built
        self._by_prefix = {m.prefix: m for _, m in built.values()}
        self._by_accessor = {m.info.accessor: m for _, m in built.values()}
        self._raw = raw

    def _build_or_placeholder(self, entry: MountEntry) -> Backend:
        """A mount whose plugin cannot be built (type no longer installed, options now invalid)
        must not take the other mounts down: it answers 503 and the log says why."""
        try:
            return self._runtime.build_backend(entry)
        except Exception as exc:
            log.error("auth method %s at auth/%s cannot be loaded: %s", entry.type, entry.path, exc)
            return unavailable_backend(f"the auth method at auth/{entry.path} is unavailable")

    async def resolve(
        self, path: str, tables: RequestTables | None = None
    ) -> tuple[Mounted, str] | None:
        """The mount serving `path` and the path within it; longest mount prefix wins."""
        if path.startswith("sys/"):
            return self._sys_mount(), path[4:]
        await self.refresh(tables)
        end = len(path)
        while end > 0:
            end = path.rfind("/", 0, end)
            if end < 0:
                break
            mounted = self._by_prefix.get(path[: end + 1])
            if mounted is not None:
                return mounted, path[end + 1 :]
        return None

    async def accessor_live(self, accessor: str, tables: RequestTables | None = None) -> bool:
        """Whether an auth mount with this accessor exists now (the table is re-read), or in
        `tables` (the mount table as the request read it at its start)."""
        await self.refresh(tables)
        return accessor in self._by_accessor

    async def by_accessor(self, accessor: str) -> Mounted | None:
        await self.refresh()
        return self._by_accessor.get(accessor)

    async def mounted(self) -> list[Mounted]:
        """The auth mounts."""
        await self.refresh()
        return [m for _, m in self._built.values()]

    async def all_mounted(self) -> list[Mounted]:
        """Everything that serves requests: sys/ and the auth mounts."""
        return [self._sys_mount(), *await self.mounted()]

    async def sweep_plugins(self) -> None:
        """Run each plugin's periodic hook (e.g. forgetting expired login nonces)."""
        for _, mounted in list(self._built.values()):
            if mounted.backend.periodic is not None:
                await mounted.backend.periodic()

    async def close(self) -> None:
        for _, mounted in self._built.values():
            if mounted.backend.close is not None:
                await mounted.backend.close()
        self._built = {}
        self._by_prefix = {}
        self._raw = b"<unloaded>"
