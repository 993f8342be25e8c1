"""`sys/wrapping/*`: wrap, unwrap, lookup and rewrap, with Vault's answers.

unwrap, lookup and rewrap take the wrapping token either as the request's token (X-Vault-Token)
or as `token` in the body; in the second case the request's own token must be valid. They are
therefore served without the core's token check (a wrapping token is not a token of the token
store) and check what they are given here.
"""

from __future__ import annotations

from typing import Any

import msgspec

from core.context import CoreContext
from core.framework.errors import BadRequest, PermissionDenied
from core.framework.fields import WeakStr
from core.framework.path import Operation, Path, Request, Response
from core.framework.timefmt import rfc3339
from core.wrapping import INVALID_WRAPPING_TOKEN, wrap_envelope


class WrappingTokenInput(msgspec.Struct, kw_only=True):
    token: WeakStr = WeakStr("")


UNAUTHENTICATED = frozenset({"wrapping/unwrap", "wrapping/lookup", "wrapping/rewrap"})


class WrappingEndpoints:
    def __init__(self, ctx: CoreContext) -> None:
        self._store = ctx.wrapping

    def paths(self) -> list[Path]:
        update = Operation.UPDATE
        return [
            Path(
                "wrapping/wrap",
                {update: self.wrap},
                free_form=True,
                synopsis="Wrap the request's fields in a wrapping token (X-Vault-Wrap-TTL).",
            ),
            Path(
                "wrapping/unwrap",
                {update: self.unwrap},
                WrappingTokenInput,
                synopsis="The response inside a wrapping token (the token is then used up).",
            ),
            Path(
                "wrapping/lookup",
                {update: self.lookup, Operation.READ: self.lookup},
                WrappingTokenInput,
                synopsis="The properties of a wrapping token.",
            ),
            Path(
                "wrapping/rewrap",
                {update: self.rewrap},
                WrappingTokenInput,
                synopsis="Move a wrapped response to a new wrapping token.",
            ),
        ]

    async def wrap(self, req: Request[Any]) -> Response:
        if not req.wrap_ttl:
            raise BadRequest("no wrap TTL given: send the X-Vault-Wrap-TTL header")
        return Response(data=dict(req.raw))  # the pipeline wraps it

    async def unwrap(self, req: Request[WrappingTokenInput]) -> Response:
        unwrapped = await self._store.unwrap(_wrapping_token(req))
        if unwrapped is None:
            raise BadRequest(INVALID_WRAPPING_TOKEN)
        return Response(raw_body=msgspec.Raw(unwrapped.body))

    async def lookup(self, req: Request[WrappingTokenInput]) -> Response:
        entry = await self._store.lookup(_wrapping_token(req))
        if entry is None:
            raise BadRequest(INVALID_WRAPPING_TOKEN)
        return Response(
            data={
                "creation_path": entry.creation_path,
                "creation_time": rfc3339(entry.creation_time),
                "creation_ttl": entry.ttl,
            }
        )

    async def rewrap(self, req: Request[WrappingTokenInput]) -> Response:
        unwrapped = await self._store.unwrap(_wrapping_token(req))
        if unwrapped is None:
            raise BadRequest(INVALID_WRAPPING_TOKEN)
        old = unwrapped.entry
        info = await self._store.wrap(
            unwrapped.body,
            ttl=old.ttl,
            creation_path=old.creation_path,
            wrapped_accessor=old.wrapped_accessor,
        )
        return Response(raw_body=wrap_envelope(info))


def _wrapping_token(req: Request[WrappingTokenInput]) -> str:
    """The `token` field (the caller's own token must then be valid), else the request's token."""
    given = str(req.data.token).strip()
    if given:
        if req.token is None:
            raise PermissionDenied()
        return given
    if not req.presented_token:
        raise BadRequest("missing wrapping token: send it as the request's token or as `token`")
    return req.presented_token
