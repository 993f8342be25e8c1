"""The auth mount table: which plugin serves which path, persisted in storage.

The whole table is one storage key. Each process keeps the parsed table and its backends, but
re-reads the key on every request and rebuilds when the bytes differ, so a mount enabled by one
server process is served by all of them at once (no stale per-process state).
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

import msgspec

from core.framework.errors import BadRequest
from core.framework.fields import json_encoder
from core.storage.base import Storage
from core.tables import MOUNTS_KEY

TOKEN_MOUNT_PATH = "token/"


class MountTuning(msgspec.Struct, kw_only=True):
    default_lease_ttl: int = 0  # 0 = the system default
    max_lease_ttl: int = 0
    token_type: str = "default-service"


class MountEntry(msgspec.Struct, kw_only=True):
    path: str  # "alicloud/", "team/a/alicloud/"
    type: str
    accessor: str
    uuid: str
    description: str = ""
    tuning: MountTuning = msgspec.field(default_factory=MountTuning)
    # The free-form `[auth.config]` table handed to the plugin.
    plugin_config: dict[str, Any] = msgspec.field(default_factory=dict)

    @property
    def storage_prefix(self) -> str:
        # Keyed by uuid, so a path disabled and enabled again starts empty.
        return f"auth/{self.uuid}/"


_table_decoder = msgspec.json.Decoder(list[MountEntry])
_encoder = json_encoder()


def new_mount(
    path: str,
    type_: str,
    *,
    description: str = "",
    tuning: MountTuning | None = None,
    plugin_config: dict[str, Any] | None = None,
) -> MountEntry:
    return MountEntry(
        path=path,
        type=type_,
        accessor=f"auth_{type_}_{secrets.token_hex(4)}",
        uuid=str(uuid.uuid4()),
        description=description,
        tuning=tuning or MountTuning(),
        plugin_config=plugin_config or {},
    )


def token_mount() -> MountEntry:
    return MountEntry(
        path=TOKEN_MOUNT_PATH,
        type="token",
        accessor=f"auth_token_{secrets.token_hex(4)}",
        uuid=str(uuid.uuid4()),
        description="token based credentials",
    )


def decode_table(raw: bytes | None) -> list[MountEntry]:
    return [] if raw is None else _table_decoder.decode(raw)


def conflicting_mount(table: list[MountEntry], path: str) -> MountEntry | None:
    """A mount at, above or below `path` (Vault refuses nesting one mount inside another)."""
    for entry in table:
        if path.startswith(entry.path) or entry.path.startswith(path):
            return entry
    return None


class MountTable:
    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    async def read_raw(self) -> bytes | None:
        """The stored table as bytes: every request compares these, and decodes them only
        when they changed."""
        return await self._storage.get(MOUNTS_KEY)

    async def ensure_token_mount(self) -> None:
        def add_token_mount(raw: bytes | None) -> bytes | None:
            table = decode_table(raw)
            if any(e.path == TOKEN_MOUNT_PATH for e in table):
                return raw
            return _encoder.encode([token_mount(), *table])

        await self._storage.update(MOUNTS_KEY, add_token_mount)

    async def enable(self, entry: MountEntry) -> None:
        """Add a mount; a mount at, above or below its path is a 400 (as in Vault)."""

        def add(raw: bytes | None) -> bytes | None:
            table = decode_table(raw)
            clash = conflicting_mount(table, entry.path)
            if clash is not None:
                raise BadRequest(f"path is already in use at {clash.path}")
            return _encoder.encode([*table, entry])

        await self._storage.update(MOUNTS_KEY, add)

    async def sync(self, entry: MountEntry) -> str:
        """Make the mount at `entry.path` match `entry` (a config-file mount): add it, or update
        its description, tuning and plugin settings, keeping its identity (uuid, accessor) and
        so its data. Returns "enabled", "updated" or "" when nothing changed."""
        outcome: list[str] = [""]

        def apply(raw: bytes | None) -> bytes | None:
            table = decode_table(raw)
            for index, current in enumerate(table):
                if current.path == entry.path:
                    if current.type != entry.type:
                        raise BadRequest(
                            f"auth/{entry.path} is a {current.type} mount, but the config file "
                            f"says {entry.type}; disable it first"
                        )
                    updated = msgspec.structs.replace(
                        current,
                        description=entry.description,
                        tuning=entry.tuning,
                        plugin_config=entry.plugin_config,
                    )
                    if updated == current:
                        return raw
                    table[index] = updated
                    outcome[0] = "updated"
                    return _encoder.encode(table)
            clash = conflicting_mount(table, entry.path)
            if clash is not None:
                raise BadRequest(f"path is already in use at {clash.path}")
            outcome[0] = "enabled"
            return _encoder.encode([*table, entry])

        await self._storage.update(MOUNTS_KEY, apply)
        return outcome[0]

    async def disable(self, path: str) -> MountEntry | None:
        removed: list[MountEntry] = []

        def remove(raw: bytes | None) -> bytes | None:
            table = decode_table(raw)
            kept = [e for e in table if e.path != path]
            removed.extend(e for e in table if e.path == path)
            return raw if not removed else _encoder.encode(kept)

        await self._storage.update(MOUNTS_KEY, remove)
        return removed[0] if removed else None

    async def tune(
        self,
        path: str,
        tuning: MountTuning,
        description: str | None,
        plugin_config: dict[str, Any] | None = None,
    ) -> None:
        def change(raw: bytes | None) -> bytes | None:
            table = decode_table(raw)
            for entry in table:
                if entry.path == path:
                    entry.tuning = tuning
                    if description is not None:
                        entry.description = description
                    if plugin_config is not None:
                        entry.plugin_config = plugin_config
                    return _encoder.encode(table)
            raise BadRequest(f"cannot tune '{path}': no auth mount at that path")

        await self._storage.update(MOUNTS_KEY, change)
