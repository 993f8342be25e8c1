"""What a plugin declares: Paths (data), a Backend (a list of Paths), and the typed request and
response its handlers see. Nothing here knows about HTTP; the core's pipeline maps HTTP onto it.
"""

from __future__ import annotations

import enum
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import msgspec

from core.framework.keyed import KeyedHasher
from core.storage.base import StorageView

In = TypeVar("In")


class Operation(enum.Enum):
    READ = "read"
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    LIST = "list"


class NoInput(msgspec.Struct):
    """The input of a path that takes no fields."""


@dataclass(slots=True)
class TokenInfo:
    """What a handler may know of the calling token (never the token itself unless self-service
    endpoints need it, in which case `client_token` holds it)."""

    accessor: str
    policies: list[str]
    display_name: str
    client_token: str
    is_root: bool
    # The core's stored record of the token, for the core's own token endpoints (so they need
    # not read it again); plugins have no use for it.
    entry: Any = None


@dataclass(slots=True)
class MountInfo:
    path: str  # e.g. "alicloud/" (relative to auth/)
    type: str
    accessor: str
    default_lease_ttl: int  # effective seconds (mount value or system default)
    max_lease_ttl: int
    # The mount's tuned token type: default-service, default-batch, service or batch.
    token_type: str = "default-service"


@dataclass(slots=True)
class Request(Generic[In]):
    operation: Operation
    path: str  # relative to the mount, e.g. "role/dev"
    data: In
    raw: dict[str, Any]  # request data after path captures were applied
    captures: dict[str, str]
    mount: MountInfo
    client_ip: str | None = None
    token: TokenInfo | None = None
    # Whether the caller holds `sudo` on this path (root always does); handlers use it for
    # options Vault reserves to sudo (e.g. orphan tokens, custom token ids).
    sudo: bool = False
    # The X-Vault-Wrap-TTL the client asked for (seconds; 0: none). The core wraps the
    # response; a handler only needs it to refuse what cannot be wrapped.
    wrap_ttl: int = 0
    # On paths that need no token: the token header as sent, unverified (sys/wrapping/* take
    # a wrapping token there). Empty everywhere else.
    presented_token: str = ""
    # What the path's existence check read, for the handler of the same request (one storage
    # read instead of two), keyed as the check and the handler agree; None: nothing.
    checked: dict[str, Any] | None = None

    def remember(self, key: str, value: Any) -> None:
        """Keep what an existence check read for this request's handler (`recall`)."""
        if self.checked is None:
            self.checked = {}
        self.checked[key] = value

    def recall(self, key: str) -> tuple[bool, Any]:
        """(True, value) if this request's existence check read `key`; (False, None) if not."""
        if self.checked is None or key not in self.checked:
            return False, None
        return True, self.checked[key]

    def given(self, name: str) -> bool:
        """Whether the client sent this field (partial updates keep what was not sent)."""
        return name in self.raw and self.raw[name] is not None


class LoginAuth(msgspec.Struct, kw_only=True):
    """A plugin's answer to a successful login: the core turns it into a token.

    `internal` is kept with the token, never shown, and handed back to the renew hook.
    """

    policies: list[str] = msgspec.field(default_factory=list)
    metadata: dict[str, str] = msgspec.field(default_factory=dict)
    display_name: str = ""
    ttl: int = 0
    max_ttl: int = 0
    period: int = 0
    explicit_max_ttl: int = 0
    num_uses: int = 0
    no_default_policy: bool = False
    bound_cidrs: list[str] = msgspec.field(default_factory=list)
    token_type: str = "default"  # default | service | batch
    renewable: bool = True
    internal: dict[str, Any] = msgspec.field(default_factory=dict)


@dataclass(slots=True)
class Response:
    """A handler's result. `None` from a handler means 204 No Content."""

    data: Any = None
    warnings: list[str] = field(default_factory=list)
    auth: Any = None  # LoginAuth from plugins; the token backend sets a finished auth block
    # Vault's legacy sys endpoints copy every data key to the top level of the envelope.
    legacy_top_level: bool = False
    # A non-envelope body (sys/health is a flat object) with its own status code; bytes are
    # sent as they are, with `content_type` (sys/metrics' Prometheus text).
    raw_body: Any = None
    status: int = 200
    content_type: str = ""
    # The accessor of what the response hands out (a secret ID, a token), shown as
    # `wrap_info.wrapped_accessor` when the response is wrapped.
    wrapped_accessor: str = ""


Handler = Callable[[Request[Any]], Awaitable[Response | None]]
ExistenceCheck = Callable[[Request[Any]], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class Path:
    """One route of a backend.

    `pattern` is relative to the mount. `{name}` captures one path segment, `{name*}` the rest
    of the path (slashes included). A pattern ending in `/` is a collection: the LIST verb and
    `GET ?list=true` reach it (Vault appends the slash for lists).
    """

    pattern: str
    operations: Mapping[Operation, Handler]
    fields: type[msgspec.Struct] = NoInput
    existence_check: ExistenceCheck | None = None
    synopsis: str = ""
    description: str = ""
    # Vault's root-protected paths: the caller needs `sudo` on the path besides the capability.
    sudo: bool = False
    # Takes any fields (Vault's free-form paths, e.g. sys/wrapping/wrap): no warning for
    # fields the input Struct does not name.
    free_form: bool = False
    # Captures whose case does not matter (e.g. role names): the core lower-cases them in the
    # path before the ACL sees it, so `role/PROD` cannot slip past a rule on `role/prod`.
    case_insensitive: frozenset[str] = frozenset()
    # Statuses a handler answers with a Vault response envelope besides 200 and 204 (approle's
    # tidy: 202; a 404 whose body is `data.error`, as Vault's), with what each means: the
    # OpenAPI document declares them so a client (or the fuzz run) knows to expect them.
    responses: Mapping[int, str] = field(default_factory=dict, compare=False)
    # The rule a capture must follow (a name's charset and length), as `msgspec.Meta`: the
    # OpenAPI document shows it on the path parameter. Documentation only: the handler enforces
    # it with its own message (derive the Meta from the handler's regex where possible).
    captures: Mapping[str, msgspec.Meta] = field(default_factory=dict, compare=False)
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "regex", compile_pattern(self.pattern))


def compile_pattern(pattern: str) -> re.Pattern[str]:
    out = []
    for piece in re.split(r"(\{[A-Za-z_][A-Za-z0-9_]*\*?\})", pattern):
        if piece.startswith("{") and piece.endswith("}"):
            name = piece[1:-1]
            if name.endswith("*"):
                out.append(f"(?P<{name[:-1]}>.+?)")
            else:
                out.append(f"(?P<{name}>[^/]+)")
        else:
            out.append(re.escape(piece))
    regex = "".join(out)
    if pattern.endswith("/"):
        # A collection matches with or without its slash (Vault's `role/?`), so a plain GET
        # on it finds the path and is answered 405, not 404.
        regex += "?"
    return re.compile(regex + r"\Z")


RenewHook = Callable[["RenewRequest"], Awaitable[LoginAuth]]


@dataclass(slots=True)
class RenewRequest:
    """A token from this mount is being renewed: the hook re-checks and returns fresh settings."""

    auth: LoginAuth
    mount: MountInfo


@dataclass(slots=True)
class Backend:
    paths: list[Path]
    help: str = ""
    # Path names that need no token (matched exactly against the path within the mount).
    unauthenticated: frozenset[str] = frozenset()
    renew: RenewHook | None = None
    # Called by the core's background sweeper (e.g. to forget expired login nonces).
    periodic: Callable[[], Awaitable[None]] | None = None
    # Called when the mount is removed or the server stops.
    close: Callable[[], Awaitable[None]] | None = None
    # The role a login body names (e.g. AliCloud's `role`), for role-scoped rate-limit quotas,
    # which are checked before the login runs (Vault's ResolveRoleOperation). None: no roles.
    resolve_role: Callable[[Mapping[str, Any]], str | None] | None = None
    # What the mount serves on other front doors, by face: "infisical" ->
    # a core.infisical.method.InfisicalAuthMethod.
    faces: dict[str, Any] = field(default_factory=dict)
    # Vault's user lockout as sys/locked-users sees it: the mount's locked users, by the name of
    # their alias (AppRole: the role ID). None: the method locks nobody out.
    user_lockout: UserLockout | None = None


class UserLockout(Protocol):
    async def locked_users(self) -> list[str]:
        """The alias names locked out now."""
        ...

    async def unlock_user(self, alias: str) -> None:
        """Clear the user's lock and failure count (nothing to do if it has none)."""
        ...


class Telemetry(Protocol):
    """Metrics a plugin may emit (names are go-metrics style: `wardgate.alicloud.sts.request`);
    the core exports them through sys/metrics, counted across every worker process."""

    def incr(
        self, name: str, labels: Mapping[str, str] | None = None, amount: float = 1
    ) -> None: ...

    def observe_ms(self, name: str, ms: float, labels: Mapping[str, str] | None = None) -> None: ...


class Clock:
    """The time source, injected so tests can move it."""

    def now(self) -> float:
        import time

        return time.time()


@dataclass(slots=True)
class BackendContext:
    """Everything a plugin factory gets; a plugin reaches nothing else outside itself."""

    storage: StorageView
    config: Mapping[str, Any]
    mount: MountInfo
    logger: logging.Logger
    clock: Clock
    # The dev server points plugins at local fakes through this (see `wardgate server --dev`).
    dev_mode: bool = False
    # Keyed hashes for secrets the plugin keeps (a key of this mount's own); None only in
    # contexts built by hand for tests of plugins that keep no secrets.
    hasher: KeyedHasher | None = None
    # Metrics (sys/metrics); None in contexts built by hand for tests.
    telemetry: Telemetry | None = None


BackendFactory = Callable[[BackendContext], Backend]
