"""Secret IDs of a role: generate, custom, lookup, destroy, LIST accessors, and the accessor
endpoints. Answers and error texts as Vault's (OpenBao 2.7.2), except that client mistakes Vault
reports as 500 are 400 here (same text)."""

from __future__ import annotations

import json
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from core.framework import (
    ZERO_TIME,
    BadRequest,
    Clock,
    CommaList,
    DurationSeconds,
    NotFound,
    Operation,
    Path,
    Request,
    Response,
    WeakStr,
    rfc3339,
)
from plugins.approle.cidrs import check_subset, validate_cidrs
from plugins.approle.path_role import ListInput
from plugins.approle.role import MAX_ID_BYTES, ROLE_NAME, Role, RoleStore
from plugins.approle.secret_ids import AlreadyRegistered, SecretEntry, SecretIdStore, new_secret_id


class SecretIdInput(msgspec.Struct, kw_only=True):
    role: str = ""
    secret_id: WeakStr | UnsetType = UNSET  # custom-secret-id only
    metadata: Any = None  # a JSON object (as a string or an object) or "k=v,k2=v2"
    cidr_list: CommaList = msgspec.field(default_factory=CommaList)
    token_bound_cidrs: CommaList = msgspec.field(default_factory=CommaList)
    num_uses: int | UnsetType = UNSET
    ttl: DurationSeconds | UnsetType = UNSET


class SecretIdRef(msgspec.Struct, kw_only=True):
    role: str = ""
    secret_id: WeakStr = WeakStr("")


class AccessorRef(msgspec.Struct, kw_only=True):
    role: str = ""
    secret_id_accessor: WeakStr = WeakStr("")


_BAD_METADATA = "failed to parse metadata: failed to parse the input: invalid <key,value> format"


def parse_metadata(value: Any) -> dict[str, str]:
    """Vault's metadata: a JSON object of strings (sent as a string or an object), or
    `k1=v1,k2=v2`."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return _key_values(value)
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise BadRequest(_BAD_METADATA)
    return {str(k): v for k, v in value.items()}


def _key_values(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in text.split(","):
        key, sep, val = item.partition("=")
        if not sep or not key.strip():
            raise BadRequest(_BAD_METADATA)
        out[key.strip()] = val.strip()
    return out


def secret_id_data(entry: SecretEntry) -> dict[str, Any]:
    return {
        "cidr_list": list(entry.cidr_list),
        "creation_time": rfc3339(entry.creation_time),
        "expiration_time": rfc3339(entry.expiration_time) if entry.expiration_time else ZERO_TIME,
        "last_updated_time": rfc3339(entry.last_updated_time),
        "metadata": dict(entry.metadata),
        "secret_id_accessor": entry.accessor,
        "secret_id_num_uses": entry.num_uses,
        "secret_id_ttl": entry.ttl,
        "token_bound_cidrs": list(entry.token_bound_cidrs),
    }


def _role_missing(name: str) -> str:
    return f'role "{name}" does not exist'


class SecretIdPaths:
    def __init__(self, roles: RoleStore, secrets: SecretIdStore, clock: Clock) -> None:
        self._roles = roles
        self._secrets = secrets
        self._clock = clock

    def paths(self) -> list[Path]:
        lower = frozenset({"role"})
        role_capture = {"role": ROLE_NAME}

        def action(pattern: str, handler: Any, fields: type[msgspec.Struct], doc: str) -> Path:
            return Path(
                pattern,
                {Operation.UPDATE: handler},
                fields,
                case_insensitive=lower,
                captures=role_capture,
                synopsis=doc,
            )

        return [
            action("role/{role}/secret-id", self.generate, SecretIdInput, "Issue a secret ID."),
            Path(
                "role/{role}/secret-id/",
                {Operation.LIST: self.list_accessors},
                ListInput,
                case_insensitive=lower,
                captures=role_capture,
                synopsis="List the accessors of a role's secret IDs.",
            ),
            action(
                "role/{role}/custom-secret-id",
                self.custom,
                SecretIdInput,
                "Register a secret ID chosen by the caller.",
            ),
            action(
                "role/{role}/secret-id/lookup", self.lookup, SecretIdRef, "Look a secret ID up."
            ),
            Path(
                "role/{role}/secret-id/destroy",
                {Operation.UPDATE: self.destroy, Operation.DELETE: self.destroy},
                SecretIdRef,
                case_insensitive=lower,
                captures=role_capture,
                synopsis="Destroy a secret ID.",
            ),
            Path(
                "role/{role}/secret-id-accessor/lookup",
                {Operation.UPDATE: self.lookup_accessor},
                AccessorRef,
                case_insensitive=lower,
                captures=role_capture,
                synopsis="Look a secret ID up by its accessor.",
                responses={404: "an unknown accessor: Vault's envelope with `data.error`"},
            ),
            Path(
                "role/{role}/secret-id-accessor/destroy",
                {Operation.UPDATE: self.destroy_accessor, Operation.DELETE: self.destroy_accessor},
                AccessorRef,
                case_insensitive=lower,
                captures=role_capture,
                synopsis="Destroy a secret ID by its accessor.",
            ),
        ]

    async def _role(self, req: Request[Any], error: type[Exception] = NotFound) -> Role:
        role = await self._roles.get(req.captures["role"])
        if role is None:
            raise error(_role_missing(req.captures["role"]))
        return role

    async def generate(self, req: Request[SecretIdInput]) -> Response:
        return await self._issue(req, new_secret_id())

    async def custom(self, req: Request[SecretIdInput]) -> Response:
        given = req.data.secret_id
        if isinstance(given, UnsetType) or not str(given):
            raise BadRequest("missing secret_id")
        secret_id = str(given)
        if secret_id != secret_id.strip():
            # Logins trim the secret ID, so this one could never log in (Vault accepts it).
            raise BadRequest("secret_id must not begin or end with whitespace")
        return await self._issue(req, secret_id)

    async def _issue(self, req: Request[SecretIdInput], secret_id: str) -> Response:
        role = await self._role(req)
        name = req.captures["role"]
        if not role.bind_secret_id:
            raise BadRequest("bind_secret_id is not set on the role")
        if len(secret_id.encode()) > MAX_ID_BYTES:
            raise BadRequest(f"secret_id is longer than the maximum of {MAX_ID_BYTES} bytes")
        data = req.data
        metadata = parse_metadata(data.metadata)
        cidr_list = validate_cidrs(list(data.cidr_list))
        check_subset(cidr_list, role.secret_id_bound_cidrs or [], "CIDR blocks")
        token_cidrs = validate_cidrs(list(data.token_bound_cidrs))
        check_subset(token_cidrs, role.token.token_bound_cidrs, "token bound CIDR blocks")
        num_uses = _num_uses(role, data.num_uses)
        ttl = _ttl(role, data.ttl)
        if ttl > req.mount.max_lease_ttl:
            ttl = req.mount.max_lease_ttl  # as Vault: capped at the mount's max lease TTL
        now = self._clock.now()
        entry = SecretEntry(
            accessor=new_secret_id(),
            verifier="",
            num_uses=num_uses,
            ttl=ttl,
            creation_time=now,
            expiration_time=now + ttl if ttl else 0.0,
            last_updated_time=now,
            metadata=metadata,
            cidr_list=cidr_list,
            token_bound_cidrs=token_cidrs,
        )
        try:
            await self._secrets.create(name, secret_id, entry)
        except AlreadyRegistered:
            raise BadRequest("failed to store secret_id: SecretID is already registered") from None
        return Response(
            data={
                "secret_id": secret_id,
                "secret_id_accessor": entry.accessor,
                "secret_id_num_uses": num_uses,
                "secret_id_ttl": ttl,
            },
            wrapped_accessor=entry.accessor,
        )

    async def list_accessors(self, req: Request[ListInput]) -> Response | None:
        await self._role(req, BadRequest)
        limit = req.data.limit if req.data.limit > 0 else None
        keys = await self._secrets.accessors(
            req.captures["role"], after=str(req.data.after), limit=limit
        )
        return Response(data={"keys": keys}) if keys else None

    async def lookup(self, req: Request[SecretIdRef]) -> Response | None:
        secret_id = _secret_id(req.data)
        await self._role(req)
        found = await self._secrets.find(req.captures["role"], secret_id, self._clock.now())
        if found is None or found[1].spent:
            return None  # unknown, expired or used up: 204, as Vault
        return Response(data=secret_id_data(found[1]))

    async def destroy(self, req: Request[SecretIdRef]) -> None:
        secret_id = _secret_id(req.data)
        await self._role(req)
        lookup, _ = self._secrets.hashes(secret_id)
        found = await self._secrets.find(req.captures["role"], secret_id, float("-inf"))
        if found is not None:
            await self._secrets.destroy(req.captures["role"], lookup)

    async def lookup_accessor(self, req: Request[AccessorRef]) -> Response | None:
        accessor = _accessor(req.data)
        await self._role(req)
        found = await self._secrets.by_accessor(req.captures["role"], accessor)
        if found is None:
            return Response(data={"error": _no_accessor(accessor)}, status=404)
        entry = found[1]
        if entry is None or entry.spent or entry.expired(self._clock.now()):
            return None  # the accessor is known but its secret ID is gone: 204, as Vault
        return Response(data=secret_id_data(entry))

    async def destroy_accessor(self, req: Request[AccessorRef]) -> None:
        accessor = _accessor(req.data)
        await self._role(req)
        if not await self._secrets.destroy_accessor(req.captures["role"], accessor):
            raise NotFound(_no_accessor(accessor))


def _secret_id(ref: SecretIdRef) -> str:
    value = str(ref.secret_id).strip()
    if not value:
        raise BadRequest("missing secret_id")
    return value


def _accessor(ref: AccessorRef) -> str:
    value = str(ref.secret_id_accessor).strip()
    if not value:
        raise BadRequest("missing secret_id_accessor")
    return value


def _no_accessor(accessor: str) -> str:
    return f'failed to find accessor entry for secret_id_accessor: "{accessor}"'


def _num_uses(role: Role, given: int | UnsetType) -> int:
    if isinstance(given, UnsetType):
        return role.secret_id_num_uses
    if given < 0:
        raise BadRequest("num_uses cannot be negative")
    if role.secret_id_num_uses > 0 and (given == 0 or given > role.secret_id_num_uses):
        raise BadRequest("num_uses cannot be higher than the role's secret_id_num_uses")
    return given


def _ttl(role: Role, given: DurationSeconds | UnsetType) -> int:
    if isinstance(given, UnsetType):
        return role.secret_id_ttl
    ttl = int(given)
    if role.secret_id_ttl > 0 and (ttl == 0 or ttl > role.secret_id_ttl):
        raise BadRequest("ttl cannot be longer than the role's secret_id_ttl")
    return ttl
