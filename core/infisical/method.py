"""What an auth method offers the Infisical face, and what the face offers it back.

A plugin serves an Infisical auth method by putting an `InfisicalAuthMethod` in its Backend's
`faces["infisical"]` (built per mount by its factory, so it can use the mount's own parts).
The face then serves, for the method's `slug`:

- `POST /api/v1/auth/<slug>/login`: parsed JSON body to `login()`, which proves the caller and
  returns a `LoginGrant`; the face issues the access token (TTLs, use limit, trusted IPs from the
  identity's config, policies from the identity) and answers Infisical's login body;
- `POST|GET|PATCH|DELETE /api/v1/auth/<slug>/identities/{identityId}`: the identity's config
  for this method. The face handles the fields every method shares (access token TTL, max TTL,
  use limit, trusted IPs); `parse_config` / `render_config` handle the method's own fields;
- any `routes()` the method adds under `/api/v1/auth/<slug>/` (e.g. client secrets).

Nothing here knows about HTTP beyond the route table; errors are core.infisical.errors classes
(or wardgate's own, which the face translates).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from core.framework.path import Operation, compile_pattern
from core.infisical.schema import Issues
from core.tokens.store import Authenticated

if TYPE_CHECKING:
    from core.infisical.auth_config import AuthConfig, AuthConfigStore
    from core.infisical.identities import IdentityStore


# Kept in the `internal` of the login record of every access token the face issues: what marks
# an Infisical identity access token (a plugin's renew hook may look for it).
IDENTITY_MARK = "infisical_identity"


@dataclass(slots=True)
class FaceRequest:
    method: str  # GET, POST, PATCH, DELETE
    path: str  # after /api/v1/, without a trailing slash
    captures: dict[str, str]
    body: dict[str, Any]  # the decoded JSON (or form) body; the query for GET
    client_ip: str | None
    caller: Authenticated | None = None  # the checked token, on routes that need one
    # The token a login handed out (its AuthBlock), for the audit entry's `auth`.
    issued: Any = None

    def identity_id(self) -> str:
        """The `{identityId}` of the route."""
        return self.captures["identityId"].strip()


FaceHandler = Callable[[FaceRequest], Awaitable[Any]]  # returns the JSON answer (200)


@dataclass(frozen=True, slots=True)
class FaceRoute:
    """One route. `capability` is what the caller's token needs on the ACL path
    `infisical/<path>` (None: no token needed, e.g. a login). `login` marks the face's own
    login route of a method: audited as a login, and under the serving mount's quotas."""

    method: str
    pattern: str  # `{name}` captures one segment
    handler: FaceHandler
    capability: Operation | None
    login: bool = False
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "regex", compile_pattern(self.pattern))


@dataclass(slots=True)
class LoginGrant:
    """A method's answer to a successful login: whose config admitted the caller, and what
    the token's metadata should say about the caller."""

    config: AuthConfig
    metadata: dict[str, str] = field(default_factory=dict)
    display_name: str = ""


@dataclass(slots=True)
class FaceServices:
    """The face's shared parts a method may use."""

    configs: AuthConfigStore
    identities: IdentityStore


class InfisicalAuthMethod:
    """Base class of a method's face; subclasses set the class attributes and `login`."""

    slug: ClassVar[str]  # "alicloud-auth": the URL segment and the identity's authMethods entry
    config_key: ClassVar[str]  # "identityAliCloudAuth": the answer's top-level key
    label: ClassVar[str]  # "Alibaba Cloud Auth", for messages
    # The auth mount (path under auth/) that serves the method unless the config names another.
    default_mount: ClassVar[str]

    def parse_config(
        self, body: Mapping[str, Any], issues: Issues, *, attach: bool
    ) -> dict[str, Any]:
        """The method's own config fields from an attach (all required ones) or update (only
        what was sent) body; problems go to `issues`. Returns what to store."""
        return {}

    def render_config(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """The method's own fields as the answer shows them (after the shared ones)."""
        return dict(fields)

    async def login(self, req: FaceRequest, services: FaceServices) -> LoginGrant:
        raise NotImplementedError

    def routes(self, services: FaceServices) -> list[FaceRoute]:
        """Extra routes under `auth/<slug>/`."""
        return []

    async def attached(self, config: AuthConfig) -> None:
        """The method was attached to an identity (its config is stored next): set up what the
        method keeps of its own for it (e.g. Universal Auth's principal)."""

    async def detached(self, config: AuthConfig) -> None:
        """The method was removed from an identity: drop what `attached` set up (its
        credentials must stop working at once)."""
