"""`login` (role ID + secret ID -> token), the renew hook, and `tidy/secret-id`.

The login never says which half was wrong: an unknown role ID, a wrong, used-up, expired or
destroyed secret ID, and a client address outside the role's or the secret ID's CIDRs all get
400 `invalid role or secret ID`; the log says which. An unknown role ID costs the same keyed
hash as a known one. Order (why in brackets):
1. role ID -> role (unknown: generic failure, not counted: there is no role to lock);
2. lockout (a locked role refuses even the right secret ID);
3. the role's `secret_id_bound_cidrs` (before the secret ID is looked at, so a caller outside
   them learns nothing about it, and cannot lock the role out);
4. the secret ID: a wrong or expired one counts towards the lockout;
5. the secret ID's own CIDRs, then spending a use (last, so a refused login never burns one).
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from core.framework import (
    BadRequest,
    Clock,
    LoginAuth,
    Operation,
    Path,
    PermissionDenied,
    RenewRequest,
    Request,
    Response,
    WeakStr,
    ip_allowed,
)
from core.framework.token_fields import login_auth, normalize_cidrs
from plugins.approle.lockout import Lockout
from plugins.approle.role import MAX_ID_BYTES, Role, RoleStore
from plugins.approle.secret_ids import SecretIdStore, Spent

INVALID = "invalid role or secret ID"
TIDY_STARTED = (
    "Tidy operation successfully started. Any information from the operation will be printed "
    "to wardgate's server logs."
)


class LoginInput(msgspec.Struct, kw_only=True):
    role_id: WeakStr = WeakStr("")
    secret_id: WeakStr = WeakStr("")


class LoginPaths:
    def __init__(
        self,
        roles: RoleStore,
        secrets: SecretIdStore,
        lockout: Lockout,
        clock: Clock,
        logger: logging.Logger,
    ) -> None:
        self._roles = roles
        self._secrets = secrets
        self._lockout = lockout
        self._clock = clock
        self._log = logger

    def paths(self) -> list[Path]:
        return [
            Path(
                "login",
                {Operation.UPDATE: self.login},
                LoginInput,
                synopsis="Log in with a role ID and a secret ID.",
            ),
            Path(
                "tidy/secret-id",
                {Operation.UPDATE: self.tidy},
                synopsis="Delete expired secret IDs now (the server also does so periodically).",
                responses={202: "the tidy ran (Vault's status for a started tidy)"},
            ),
        ]

    async def login(self, req: Request[LoginInput]) -> Response:
        role_id = str(req.data.role_id).strip()
        if not role_id:
            raise BadRequest("missing role_id")
        secret_id = str(req.data.secret_id).strip()
        if len(secret_id.encode()) > MAX_ID_BYTES or len(role_id.encode()) > MAX_ID_BYTES:
            raise BadRequest(f"role_id and secret_id are limited to {MAX_ID_BYTES} bytes")
        name = await self._roles.name_for_role_id(role_id)
        if name is None:
            self._secrets.hashes(secret_id)  # the work a known role ID costs
            raise BadRequest(INVALID, log_detail="unknown role_id")
        # The role, its lock record and the secret ID's entry in one storage read; each is
        # still looked at in the order of the module docstring.
        lookup, verifier = self._secrets.hashes(secret_id)
        keys = [self._roles.key(name), self._lockout.key(name)]
        if secret_id:
            keys.append(self._secrets.key(name, lookup))
        raws = await self._roles.storage.get_many(keys)
        role = self._roles.decode(raws[0])
        if role is None or role.role_id != role_id:
            raise BadRequest(INVALID, log_detail="unknown role_id")
        now = self._clock.now()
        lock = self._lockout.state_of(raws[1])
        if self._lockout.is_locked(lock, now):
            raise PermissionDenied(log_detail=f"role {name!r} is locked after failed logins")
        client_ip = req.client_ip
        if role.secret_id_bound_cidrs and not ip_allowed(client_ip, role.secret_id_bound_cidrs):
            raise BadRequest(INVALID, log_detail=f"{client_ip} is outside the role's CIDRs")
        metadata: dict[str, str] = {}
        token_cidrs: list[str] = []
        if role.bind_secret_id:
            if not secret_id:
                raise BadRequest("missing secret_id")
            found = self._secrets.check(raws[2], lookup, verifier, now)
            if found is None:
                locked = await self._lockout.record_failure(name, now)
                raise BadRequest(
                    INVALID,
                    log_detail=f"wrong or expired secret_id for role {name!r}"
                    + ("; the role is now locked" if locked else ""),
                )
            lookup, entry = found
            if entry.spent:
                # Used up (perhaps by a concurrent login): refused, but not a guess.
                raise BadRequest(INVALID, log_detail=f"secret ID {entry.accessor} is used up")
            if entry.cidr_list and not ip_allowed(client_ip, entry.cidr_list):
                raise BadRequest(
                    INVALID,
                    log_detail=f"{client_ip} is outside the CIDRs of secret ID {entry.accessor}",
                )
            if entry.num_uses > 0:
                try:
                    await self._secrets.spend(name, lookup, now)
                except Spent:
                    raise BadRequest(
                        INVALID, log_detail=f"secret ID {entry.accessor} was used up meanwhile"
                    ) from None
            metadata = dict(entry.metadata)
            token_cidrs = list(entry.token_bound_cidrs)
            self._log.info("login to role %r with secret ID %s", name, entry.accessor)
        if lock is not None:
            await self._lockout.clear(name)
        return Response(auth=self._auth(role, name, metadata, token_cidrs, client_ip))

    def _auth(
        self,
        role: Role,
        name: str,
        metadata: dict[str, str],
        token_cidrs: list[str],
        client_ip: str | None,
    ) -> LoginAuth:
        metadata["role_name"] = name
        auth = login_auth(role.token, metadata=metadata, internal={"role_name": name})
        if role.token_strictly_bind_ip and client_ip:
            auth.bound_cidrs = [client_ip]
        elif token_cidrs:
            auth.bound_cidrs = normalize_cidrs(token_cidrs, "token_bound_cidrs")
        return auth

    async def renew(self, renew: RenewRequest) -> LoginAuth:
        """A token from this mount is renewed: its role must still exist; its current TTLs apply."""
        name = str(renew.auth.internal.get("role_name", ""))
        role = await self._roles.get(name) if name else None
        if role is None:
            raise PermissionDenied(f'role "{name}" does not exist during renewal')
        fresh = login_auth(role.token)
        return msgspec.structs.replace(
            renew.auth, ttl=fresh.ttl, max_ttl=fresh.max_ttl, period=fresh.period
        )

    async def tidy(self, req: Request[Any]) -> Response:
        removed = await self.sweep()
        self._log.info("tidy: removed %d expired secret IDs", removed)
        return Response(warnings=[TIDY_STARTED], status=202)

    async def sweep(self) -> int:
        return await self._secrets.sweep(self._clock.now())
