"""`sys/auth` and the tune endpoints: list, enable, read, disable and tune auth methods."""

from __future__ import annotations

from typing import Any

import msgspec

from core.config import mount_path_problem, normalize_mount_path
from core.context import CoreContext
from core.framework.errors import BadRequest
from core.framework.fields import parse_duration
from core.framework.path import Request, Response
from core.mounts import TOKEN_MOUNT_PATH, MountEntry, MountTuning, new_mount

_TOKEN_TYPES = ("default-service", "default-batch", "service", "batch")


class EnableInput(msgspec.Struct, kw_only=True):
    type: str | None = None
    description: str = ""
    config: dict[str, Any] = msgspec.field(default_factory=dict)
    # Plugin settings for mounts enabled through the API (the `[auth.config]` table of the
    # config file). Vault passes a mount's `options` to its backend the same way.
    options: dict[str, Any] | None = None


class TuneInput(msgspec.Struct, kw_only=True):
    # Absent, null and "" all mean "unchanged" (the bao CLI sends "" for every TTL flag not
    # given); "system" resets to the system default.
    default_lease_ttl: Any = None
    max_lease_ttl: Any = None
    description: str | None = None
    token_type: str | None = None
    # Plugin settings to change (merged into the mount's; a null value removes a setting).
    # The bao CLI sends `"options": null` on every tune.
    options: dict[str, Any] | None = None
    # Sent by the bao CLI; wardgate caches no responses, so only false is meaningful.
    force_no_cache: bool = False


def mount_data(entry: MountEntry) -> dict[str, Any]:
    """One mount as `sys/auth` shows it (keys sorted, as Vault's JSON of a Go struct map)."""
    return {
        "accessor": entry.accessor,
        "config": {
            "default_lease_ttl": entry.tuning.default_lease_ttl,
            "force_no_cache": False,
            "max_lease_ttl": entry.tuning.max_lease_ttl,
            "token_type": entry.tuning.token_type,
        },
        **_deprecation_status(entry),
        "description": entry.description,
        "external_entropy_access": False,
        "local": False,
        "options": _public_options(entry),
        "plugin_version": "",
        "running_plugin_version": "",
        "running_sha256": "",
        "seal_wrap": False,
        "type": entry.type,
        "uuid": entry.uuid,
    }


def _deprecation_status(entry: MountEntry) -> dict[str, str]:
    # Vault shows it for plugin mounts and not for the built-in token mount.
    return {} if entry.type == "token" else {"deprecation_status": "supported"}


def _public_options(entry: MountEntry) -> dict[str, Any] | None:
    if entry.type == "token":
        return None
    # Settings given as `{ env = ... }`/`{ file = ... }` are stored (and shown) as those
    # references; a literal under a secret-sounding name is not shown.
    return {
        k: v if isinstance(v, dict) or not _looks_secret(k) else "<redacted>"
        for k, v in entry.plugin_config.items()
    }


def _looks_secret(key: str) -> bool:
    lowered = key.lower()
    return any(word in lowered for word in ("secret", "password", "token", "key"))


def _ttl(value: Any, what: str) -> int:
    if value in (None, "", "system"):
        return 0
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise BadRequest(f"unable to parse {what} of {value}: {exc}") from None


class AuthMountEndpoints:
    def __init__(self, ctx: CoreContext) -> None:
        self._ctx = ctx

    async def list(self, req: Request[Any]) -> Response:
        table = await self._ctx.router.mounted()
        data = {
            m.entry.path: mount_data(m.entry)
            for m in sorted(table, key=lambda m: m.prefix)
            if m.entry is not None
        }
        return Response(data=data, legacy_top_level=True)

    async def read(self, req: Request[Any]) -> Response:
        entry = await self._entry(req.captures["path"])
        if entry is None:
            raise BadRequest(f"No auth engine at {normalize_mount_path(req.captures['path'])}")
        return Response(data=mount_data(entry), legacy_top_level=True)

    async def enable(self, req: Request[EnableInput]) -> None:
        raw_path = req.captures["path"]
        if raw_path.endswith("/"):
            raise BadRequest("cannot write to a path ending in '/'")
        path = normalize_mount_path(raw_path)
        problem = mount_path_problem(path)
        if problem:
            raise BadRequest(f"invalid mount path: {problem}")
        data = req.data
        if not data.type:
            raise BadRequest("backend type must be specified as a string")
        if data.type == "token" or self._ctx.registry.get(data.type) is None:
            raise BadRequest(f"plugin not found in the catalog: {data.type}")
        default = _ttl(data.config.get("default_lease_ttl"), "default TTL")
        maximum = _ttl(data.config.get("max_lease_ttl"), "max TTL")
        if maximum and default > maximum:
            raise BadRequest("given default lease TTL greater than given max lease TTL")
        entry = new_mount(
            path,
            data.type,
            description=data.description,
            tuning=MountTuning(default_lease_ttl=default, max_lease_ttl=maximum),
            plugin_config=dict(data.options or {}),
        )
        await self._ctx.check_buildable(entry)
        await self._ctx.mounts.enable(entry)

    async def disable(self, req: Request[Any]) -> None:
        path = normalize_mount_path(req.captures["path"])
        if path == TOKEN_MOUNT_PATH:
            raise BadRequest("token credential backend cannot be disabled")
        removed = await self._ctx.mounts.disable(path)
        if removed is None:
            return
        # As in Vault, disabling an auth method revokes every token it issued.
        await self._ctx.tokens.revoke_mount(removed.accessor)
        await _delete_prefix(self._ctx, removed.storage_prefix)

    async def read_tune(self, req: Request[Any]) -> Response:
        path = normalize_mount_path(req.captures["path"])
        entry = await self._entry(path)
        if entry is None:
            raise BadRequest(f'cannot fetch sysview for path "auth/{path}"')
        info = self._ctx.mount_info(entry)
        data = {
            "default_lease_ttl": info.default_lease_ttl,
            "description": entry.description,
            "force_no_cache": False,
            "max_lease_ttl": info.max_lease_ttl,
            "token_type": entry.tuning.token_type,
        }
        return Response(data=data, legacy_top_level=True)

    async def tune(self, req: Request[TuneInput]) -> None:
        path = normalize_mount_path(req.captures["path"])
        entry = await self._entry(path)
        if entry is None:
            raise BadRequest(f'tune of path "auth/{path}" failed: no mount entry found')
        data = req.data
        if data.force_no_cache:
            raise BadRequest("force_no_cache is not supported: wardgate caches no responses")
        tuning = msgspec.structs.replace(entry.tuning)
        if data.default_lease_ttl not in (None, ""):
            tuning.default_lease_ttl = _tune_ttl(data.default_lease_ttl)
        if data.max_lease_ttl not in (None, ""):
            tuning.max_lease_ttl = _tune_ttl(data.max_lease_ttl)
        if data.token_type is not None:
            if data.token_type not in _TOKEN_TYPES:
                raise BadRequest("invalid value for 'token_type'")
            tuning.token_type = data.token_type
        _check_tuned_ttls(tuning)
        plugin_config = None
        if data.options:
            plugin_config = await self._tuned_options(entry, data.options)
        await self._ctx.mounts.tune(path, tuning, data.description, plugin_config)

    async def _tuned_options(self, entry: MountEntry, options: dict[str, Any]) -> dict[str, Any]:
        if entry.type == "token":
            raise BadRequest("the token auth method takes no options")
        merged = dict(entry.plugin_config)
        for key, value in options.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        # Built once with the new settings, so a bad value fails the tune, not the mount.
        await self._ctx.check_buildable(msgspec.structs.replace(entry, plugin_config=merged))
        return merged

    async def _entry(self, raw_path: str) -> MountEntry | None:
        path = normalize_mount_path(raw_path)
        for mounted in await self._ctx.router.mounted():
            if mounted.entry is not None and mounted.entry.path == path:
                return mounted.entry
        return None


def _check_tuned_ttls(tuning: MountTuning) -> None:
    """Vault compares the mount's own values only when both are set: a max below the system
    default with no default of its own is allowed (tokens are then capped to the max)."""
    default, maximum = tuning.default_lease_ttl, tuning.max_lease_ttl
    if default and maximum and maximum < default:
        raise BadRequest(
            f"backend max lease TTL of {maximum} would be less than "
            f"backend default lease TTL of {default}"
        )


def _tune_ttl(value: Any) -> int:
    if value == "system":
        return 0  # back to the system default
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None


async def _delete_prefix(ctx: CoreContext, prefix: str) -> None:
    from core.storage.base import Delete

    while True:
        keys = await ctx.storage.list(prefix, limit=500)
        if not keys:
            return
        await ctx.storage.write([Delete(prefix + key) for key in keys])
