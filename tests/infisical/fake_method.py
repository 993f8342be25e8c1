"""A small but real auth method on the Infisical face, for testing the face's own machinery
apart from AliCloud: an identity's config holds a passphrase; login with the right one."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from core.framework import Backend, BackendContext
from core.infisical.errors import NotFoundError, UnauthorizedError
from core.infisical.method import FaceRequest, FaceServices, InfisicalAuthMethod, LoginGrant
from core.infisical.schema import Issues, string
from core.registry import PluginRegistry


class PassphraseMethod(InfisicalAuthMethod):
    slug = "passphrase-auth"
    config_key = "identityPassphraseAuth"
    label = "Passphrase Auth"
    default_mount = "passphrase"

    def parse_config(
        self, body: Mapping[str, Any], issues: Issues, *, attach: bool
    ) -> dict[str, Any]:
        value = string(body, "passphrase", issues, required=attach, min_length=8)
        return {} if value is None else {"passphrase": value}

    def render_config(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        return {"type": "passphrase"}  # the passphrase itself is never shown

    async def login(self, req: FaceRequest, services: FaceServices) -> LoginGrant:
        issues = Issues()
        identity_id = string(req.body, "identityId", issues)
        passphrase = string(req.body, "passphrase", issues)
        issues.raise_if_any()
        assert identity_id is not None and passphrase is not None
        config = await services.configs.get(self.slug, identity_id)
        if config is None:
            raise NotFoundError("Passphrase auth method not found for identity")
        if not hmac.compare_digest(config.fields["passphrase"], passphrase):
            raise UnauthorizedError("Invalid credentials")
        return LoginGrant(config, metadata={"via": "passphrase"})


def factory(ctx: BackendContext) -> Backend:
    return Backend(paths=[], faces={"infisical": PassphraseMethod()})


def registry() -> PluginRegistry:
    from core.registry import default_registry

    found = default_registry(include_entry_points=False)
    found.add("passphrase", factory, description="test passphrase method")
    return found
