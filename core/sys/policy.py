"""`sys/policy`, `sys/policies/acl` (list, read, write, delete) and `sys/capabilities*`."""

from __future__ import annotations

from typing import Any

import msgspec

from core.context import CoreContext
from core.framework.errors import BadRequest, InvalidRequest, PermissionDenied
from core.framework.fields import CommaList, WeakStr
from core.framework.path import Request, Response
from core.policy import ROOT, PolicyRecord
from core.tokens.issue import rfc3339
from core.tokens.store import TokenEntry


class PolicyInput(msgspec.Struct, kw_only=True):
    policy: WeakStr | None = None
    rules: WeakStr | None = None  # the deprecated name, still accepted on sys/policy


class CapabilitiesInput(msgspec.Struct, kw_only=True):
    # Vault's TypeCommaStringSlice: a JSON list or one comma-separated string.
    path: CommaList = msgspec.field(default_factory=CommaList)
    paths: CommaList = msgspec.field(default_factory=CommaList)
    token: WeakStr = WeakStr("")
    accessor: WeakStr = WeakStr("")


def _flags(record: PolicyRecord) -> dict[str, Any]:
    data: dict[str, Any] = {
        "allow_slashes_in_identity_templates": False,
        "allow_wildcards_in_identity_templates": False,
        "cas_required": False,
    }
    if record.modified is not None:
        data["modified"] = rfc3339(record.modified)
    data["name"] = record.name
    return data


class PolicyEndpoints:
    def __init__(self, ctx: CoreContext) -> None:
        self._ctx = ctx

    async def list_legacy(self, req: Request[Any]) -> Response:
        names = await self._ctx.policies.names()
        return Response(data={"keys": names, "policies": names}, legacy_top_level=True)

    async def list_acl(self, req: Request[Any]) -> Response:
        return Response(data={"keys": await self._ctx.policies.names()})

    async def _authorize_stored_name(self, req: Request[Any]) -> None:
        """Policy names are lower-cased, so `sys/policies/acl/ADMIN` reads, writes or deletes
        the policy `admin`. The pipeline authorized the path as sent; a caller denied on
        `<prefix>admin` must not reach that policy by changing case, so the stored name's
        path is authorized too."""
        name = req.captures["name"]
        lowered = name.lower()
        token = req.token
        if lowered == name or token is None or token.is_root:
            return
        # req.path is `policy/<name>` or `policies/acl/<name>` (relative to sys/).
        prefix = "sys/" + req.path[: len(req.path) - len(name)]
        entry = token.entry
        if not isinstance(entry, TokenEntry):
            raise PermissionDenied()
        params = {k: v for k, v in req.raw.items() if k not in req.captures}
        await self._ctx.authorizer.check(
            entry, prefix + lowered, req.operation, params, needs_sudo=False
        )

    async def read_legacy(self, req: Request[Any]) -> Response | None:
        await self._authorize_stored_name(req)
        record = await self._ctx.policies.get(req.captures["name"])
        if record is None:
            return None
        data = {**_flags(record), "rules": record.text, "version": record.version}
        return Response(data=dict(sorted(data.items())), legacy_top_level=True)

    async def read_acl(self, req: Request[Any]) -> Response | None:
        await self._authorize_stored_name(req)
        record = await self._ctx.policies.get(req.captures["name"])
        if record is None:
            return None
        data = {**_flags(record), "policy": record.text, "version": record.version}
        return Response(data=dict(sorted(data.items())))

    async def write(self, req: Request[PolicyInput]) -> Response | None:
        await self._authorize_stored_name(req)
        # As Vault: the deprecated `rules` exists only on the legacy sys/policy/<name>, and
        # there it is taken (with a warning) over `policy` when both are sent.
        legacy_rules = req.path.startswith("policy/") and req.data.rules is not None
        text = req.data.rules if legacy_rules else req.data.policy
        if not text or not str(text).strip():
            raise BadRequest("'policy' parameter not supplied or empty")
        await self._ctx.policies.put(req.captures["name"], str(text))
        if legacy_rules:
            return Response(warnings=["'rules' is deprecated, please use 'policy' instead"])
        return None

    async def delete(self, req: Request[Any]) -> None:
        await self._authorize_stored_name(req)
        await self._ctx.policies.delete(req.captures["name"])

    # -- capabilities ------------------------------------------------------------------------

    async def capabilities_self(self, req: Request[CapabilitiesInput]) -> Response:
        if req.token is None:
            raise PermissionDenied()
        return await self._capabilities(req.token.policies, req.data)

    async def capabilities(self, req: Request[CapabilitiesInput]) -> Response:
        if not req.data.token:
            raise BadRequest("missing token")
        tokens = self._ctx.tokens
        entry = await tokens.valid_entry(tokens.hash(req.data.token))
        if entry is None:
            raise BadRequest("invalid token")
        return await self._capabilities(entry.policies, req.data)

    async def capabilities_accessor(self, req: Request[CapabilitiesInput]) -> Response:
        if not req.data.accessor:
            raise BadRequest("missing accessor")
        tokens = self._ctx.tokens
        token_hash = await tokens.hash_for_accessor(req.data.accessor)
        entry = None if token_hash is None else await tokens.valid_entry(token_hash)
        if entry is None:
            raise InvalidRequest("invalid accessor")
        return await self._capabilities(entry.policies, req.data)

    async def _capabilities(self, policies: list[str], data: CapabilitiesInput) -> Response:
        # As Vault: `paths`, else the deprecated `path`.
        paths = list(data.paths) or list(data.path)
        if not paths:
            raise BadRequest("paths must be supplied")
        if ROOT in policies:
            per_path = {path: ["root"] for path in paths}
        else:
            acl = await self._ctx.policies.compiled(policies)
            per_path = {path: sorted(acl.capabilities(path)) for path in paths}
        result: dict[str, Any] = dict(per_path)
        if len(paths) == 1:
            # Vault's backwards-compatible single-path form; absent when several paths are asked.
            result["capabilities"] = per_path[paths[0]]
        return Response(data=dict(sorted(result.items())), legacy_top_level=True)
