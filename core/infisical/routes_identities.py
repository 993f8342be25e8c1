"""`/api/v1/identities`: create, list, read, update, delete machine identities.

Deleting an identity revokes every token issued to it and removes its auth method configs.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import msgspec

from core.framework.path import Operation
from core.infisical.identities import (
    Identity,
    now_iso,
    parse_identity,
    render,
)
from core.infisical.method import FaceRequest, FaceRoute, FaceServices

if TYPE_CHECKING:
    from core.context import CoreContext


class IdentityRoutes:
    def __init__(self, ctx: CoreContext, services: FaceServices) -> None:
        self._ctx = ctx
        self._services = services

    def routes(self) -> list[FaceRoute]:
        one = "identities/{identityId}"
        return [
            FaceRoute("POST", "identities", self.create, Operation.CREATE),
            FaceRoute("GET", "identities", self.list, Operation.LIST),
            FaceRoute("GET", one, self.read, Operation.READ),
            FaceRoute("PATCH", one, self.update, Operation.UPDATE),
            FaceRoute("DELETE", one, self.delete, Operation.DELETE),
        ]

    def _now(self) -> str:
        return now_iso(self._ctx.clock.now())

    async def create(self, req: FaceRequest) -> Any:
        values = parse_identity(req.body, create=True)
        now = self._now()
        identity = Identity(
            id=str(uuid.uuid4()),
            name=values["name"],
            role=values["role"],
            metadata=values["metadata"],
            policies=values["policies"],
            authMethods=[],
            createdAt=now,
            updatedAt=now,
        )
        await self._services.identities.put(identity)
        return {"identity": render(identity)}

    async def list(self, req: FaceRequest) -> Any:
        found = sorted(await self._services.identities.all(), key=lambda i: (i.name, i.id))
        return {"identities": [render(i) for i in found], "totalCount": len(found)}

    async def read(self, req: FaceRequest) -> Any:
        identity = await self._services.identities.require(req.identity_id())
        return {"identity": render(identity)}

    async def update(self, req: FaceRequest) -> Any:
        values = parse_identity(req.body, create=False)
        identity = await self._services.identities.require(req.identity_id())
        identity = msgspec.structs.replace(identity, **values, updatedAt=self._now())
        await self._services.identities.put(identity)
        return {"identity": render(identity)}

    async def delete(self, req: FaceRequest) -> Any:
        identity = await self._services.identities.require(req.identity_id())
        # Tokens first (their groups go at once, so they are refused before the rest ends).
        await self._ctx.tokens.drop_groups(identity.id + "/")
        for slug in identity.authMethods:
            await self._services.configs.delete(slug, identity.id)
        await self._services.identities.delete(identity.id)
        return {"identity": render(identity)}
