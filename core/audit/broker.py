"""The audit broker: the device table (in storage, shared by every process and node), each
process's open devices, the per-device salts, and "audit or fail".

Each write goes to every device; it succeeds if at least one device took it. With devices
enabled and none able to write, `log_request`/`log_response` raise AuditFailed: the request is not
executed (or its answer is withheld) and the client gets 500 `internal error`, as in Vault.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

import msgspec

from core.audit.devices import FILE_OPTIONS, SOCKET_OPTIONS, Device, build_device
from core.audit.hashing import Hasher, hmac_value
from core.audit.record import AuditRecord, entry, render
from core.framework.errors import BadRequest, InternalError
from core.framework.path import Telemetry
from core.storage.base import Storage
from core.tables import AUDIT_KEY, RequestTables

log = logging.getLogger("wardgate.audit")

TABLE_KEY = AUDIT_KEY


class AuditFailed(InternalError):
    """No enabled device could write an entry."""


class DeviceEntry(msgspec.Struct, kw_only=True):
    path: str  # with the trailing slash, as Vault keys it
    type: str
    description: str = ""
    options: dict[str, str] = msgspec.field(default_factory=dict)
    local: bool = False
    uuid: str = ""
    from_config: bool = False

    def listing(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "local": self.local,
            "options": dict(self.options),
            "path": self.path,
            "type": self.type,
        }


_table_decoder = msgspec.json.Decoder(list[DeviceEntry])
_encoder = msgspec.json.Encoder()


def _true(options: dict[str, str], name: str, default: bool) -> bool:
    value = options.get(name)
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in ("true", "1", "t", "yes"):
        return True
    if lowered in ("false", "0", "f", "no"):
        return False
    raise BadRequest(f'invalid value for option "{name}": "{value}" is not a boolean')


def option_strings(options: dict[str, Any]) -> dict[str, str]:
    """Vault's options are strings; a client that sends `true` or `5` means `"true"`, `"5"`."""
    out: dict[str, str] = {}
    for name, value in options.items():
        if isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            out[name] = str(value)
        else:
            raise BadRequest(f'option "{name}" must be a string')
    return out


def validate_options(device_type: str, options: dict[str, str], *, allow_prefix: bool) -> None:
    """Everything Vault refuses at enable time, before anything is stored."""
    allowed = FILE_OPTIONS if device_type == "file" else SOCKET_OPTIONS
    build_device(device_type, options)  # type and per-type options
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise BadRequest(f"unknown options for a {device_type} device: {', '.join(unknown)}")
    fmt = options.get("format", "json")
    if fmt == "jsonx":
        raise BadRequest(
            'jsonx formatting has been removed, consider switching to json by omitting "format" '
            'or setting it to "json"'
        )
    if fmt != "json":
        raise BadRequest(f'unknown format type "{fmt}"')
    for name in ("hmac_accessor", "log_raw", "elide_list_responses", "skip_test"):
        _true(options, name, False)
    if options.get("prefix") and not allow_prefix:
        raise BadRequest("audit log prefixing is not allowed")


@dataclass(slots=True)
class _Live:
    """A device this process has open."""

    entry: DeviceEntry
    device: Device
    hasher: Hasher
    prefix: bytes
    elide_lists: bool


class AuditBroker:
    def __init__(self, storage: Storage, *, metrics: Telemetry | None = None) -> None:
        self._storage = storage
        self._raw: bytes | None = b"<unloaded>"
        self._live: dict[str, _Live] = {}
        self._lock = asyncio.Lock()
        self._metrics = metrics
        # Counts this process's writes of the table (see log_response).
        self._changes = 0

    # -- the table ---------------------------------------------------------------------------

    async def table(self) -> list[DeviceEntry]:
        raw = await self._storage.get(TABLE_KEY)
        return _table_decoder.decode(raw) if raw else []

    async def refresh(self, tables: RequestTables | None = None) -> bool:
        """Keep this process's devices in step with the stored table (read once per request,
        with the request's other tables when `tables` is given); returns whether any device
        is enabled."""
        raw = tables.audit if tables is not None else await self._storage.get(TABLE_KEY)
        if raw != self._raw:
            async with self._lock:
                if raw != self._raw:
                    await self._rebuild(raw)
        return bool(self._live)

    async def _rebuild(self, raw: bytes | None) -> None:
        table = _table_decoder.decode(raw) if raw else []
        live: dict[str, _Live] = {}
        for device in table:
            current = self._live.get(device.uuid)
            if current is not None and current.entry == device:
                live[device.uuid] = current
                continue
            try:
                live[device.uuid] = await self._open(device)
            except Exception as exc:
                # Kept out of the set, so "audit or fail" applies to the devices that remain;
                # with none left, nothing is audited: say so loudly.
                log.error("audit device %s cannot be used: %s", device.path, exc)
        for key, old in self._live.items():
            if live.get(key) is not old:
                await old.device.close()
        self._live = live
        self._raw = raw

    async def _open(self, device: DeviceEntry) -> _Live:
        options = device.options
        log_raw = _true(options, "log_raw", False)
        salt = None if log_raw else await self._salt(device.uuid)
        hasher = Hasher(salt, hmac_accessor=_true(options, "hmac_accessor", True))
        return _Live(
            device,
            build_device(device.type, options),
            hasher,
            options.get("prefix", "").encode(),
            _true(options, "elide_list_responses", False),
        )

    async def _salt(self, device_uuid: str) -> bytes:
        """The device's salt, made once and kept in storage: every process and node hashes
        alike, and sys/audit-hash reproduces the logged hash."""
        _, salt = await self._storage.update(
            f"audit/{device_uuid}/salt", lambda raw: raw or str(uuid.uuid4()).encode()
        )
        assert salt is not None
        return salt

    # -- writing -----------------------------------------------------------------------------

    async def log_request(self, record: AuditRecord) -> None:
        if record.path is None or record.request_logged:
            return
        record.request_logged = True
        record.audit_changes = self._changes
        if await self.refresh(record.tables):
            await self._write(record, "request")

    async def log_response(self, record: AuditRecord) -> None:
        if record.path is None:
            return
        # The table was read for this request's request entry: read again only if this
        # process changed it since (a request that enables a device has its own response
        # audited there). A change another process makes while the request runs reaches
        # neither of its entries, as if it came just after; one read per request less.
        same = record.request_logged and record.audit_changes == self._changes
        if bool(self._live) if same else await self.refresh():
            await self._write(record, "response")

    async def _write(self, record: AuditRecord, kind: str) -> None:
        started = time.perf_counter()
        succeeded = 0
        failures: list[str] = []
        for live in list(self._live.values()):
            try:
                line = render(
                    entry(record, kind, live.hasher, elide_lists=live.elide_lists), live.prefix
                )
                await live.device.write(line)
                succeeded += 1
            except Exception as exc:
                failures.append(live.entry.path)
                log.warning("audit device %s failed to log the %s: %s", live.entry.path, kind, exc)
        if self._metrics is not None:
            self._metrics.observe_ms(
                f"vault.audit.log_{kind}", (time.perf_counter() - started) * 1000
            )
            if failures:
                self._metrics.incr(f"vault.audit.log_{kind}_failure", None, len(failures))
        if not succeeded:
            raise AuditFailed(log_detail=f"no audit device succeeded in logging the {kind}")

    def reopen(self) -> None:
        """SIGHUP: close and reopen every file (log rotation); sockets reconnect."""
        for live in self._live.values():
            if live.entry.type == "file":
                log.info("reloading file audit device: path=%s", live.entry.path)
            live.device.reopen()

    async def close(self) -> None:
        for live in self._live.values():
            await live.device.close()
        self._live = {}
        self._raw = b"<unloaded>"

    # -- management --------------------------------------------------------------------------

    async def enable(self, device: DeviceEntry, *, allow_prefix: bool) -> None:
        validate_options(device.type, device.options, allow_prefix=allow_prefix)
        if not _true(device.options, "skip_test", False):
            await _probe(device)
        device.uuid = device.uuid or str(uuid.uuid4())

        def add(raw: bytes | None) -> bytes:
            table = _table_decoder.decode(raw) if raw else []
            for other in table:
                if other.path.startswith(device.path) or device.path.startswith(other.path):
                    raise BadRequest("path already in use")
            return _encoder.encode([*table, device])

        self._changes += 1
        await self._storage.update(TABLE_KEY, add)
        await self._salt(device.uuid)

    async def disable(self, path: str) -> None:
        """Removes the device; its salt goes too, so a new device at the path hashes anew."""
        removed: list[DeviceEntry] = []

        def drop(raw: bytes | None) -> bytes | None:
            table = _table_decoder.decode(raw) if raw else []
            removed.extend(d for d in table if d.path == path)
            return _encoder.encode([d for d in table if d.path != path]) if raw else raw

        self._changes += 1
        await self._storage.update(TABLE_KEY, drop)
        for device in removed:
            await self._storage.delete(f"audit/{device.uuid}/salt")

    async def hash(self, path: str, value: str) -> str:
        for device in await self.table():
            if device.path == path:
                if _true(device.options, "log_raw", False):
                    return value
                return hmac_value(await self._salt(device.uuid), value)
        raise BadRequest(f'unknown audit backend "{path}"')

    async def sync_config(self, devices: list[DeviceEntry], *, allow_prefix: bool) -> None:
        """`[[audit]]` blocks: created if absent, updated to what the file says, and a device
        that came from the file and is no longer in it is disabled (OpenBao's declarative
        devices)."""
        for device in devices:
            validate_options(device.type, device.options, allow_prefix=True)
        wanted = {d.path: d for d in devices}

        def apply(raw: bytes | None) -> bytes:
            table = _table_decoder.decode(raw) if raw else []
            kept: list[DeviceEntry] = []
            for current in table:
                if current.path in wanted:
                    new = wanted.pop(current.path)
                    new.uuid = current.uuid
                    kept.append(new)
                elif not current.from_config:
                    kept.append(current)
            for new in wanted.values():
                new.uuid = str(uuid.uuid4())
                kept.append(new)
            return _encoder.encode(kept)

        self._changes += 1
        await self._storage.update(TABLE_KEY, apply)


async def _probe(device: DeviceEntry) -> None:
    """Vault's test message, through a throw-away device with a throw-away salt."""
    instance = build_device(device.type, device.options)
    record = AuditRecord(request_id=str(uuid.uuid4()), path="sys/audit/test")
    record.operation = "update"
    probe = entry(record, "request", Hasher(secrets.token_bytes(16)))
    try:
        await instance.write(render(probe, device.options.get("prefix", "").encode()))
    except Exception as exc:
        raise BadRequest(f"audit backend failed test message: {exc}") from None
    finally:
        await instance.close()
