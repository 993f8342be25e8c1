"""What a plugin is written against: Paths, Backend, typed requests and responses, field types
and errors. Plugins import from here and never from Starlette."""

from core.framework.errors import (
    BadRequest,
    NotFound,
    PermissionDenied,
    UpstreamError,
    UpstreamTimeout,
    WardgateError,
)
from core.framework.fields import CommaList, DurationSeconds, LowerStr, StrList, WeakStr
from core.framework.keyed import KeyedHasher, same_digest
from core.framework.network import ip_allowed, is_subset
from core.framework.path import (
    Backend,
    BackendContext,
    BackendFactory,
    Clock,
    LoginAuth,
    MountInfo,
    NoInput,
    Operation,
    Path,
    RenewRequest,
    Request,
    Response,
    UserLockout,
)
from core.framework.storage import Delete, Put, Storage, StorageView, WriteOp
from core.framework.timefmt import ZERO_TIME, rfc3339

__all__ = [
    "ZERO_TIME",
    "Backend",
    "BackendContext",
    "BackendFactory",
    "BadRequest",
    "Clock",
    "CommaList",
    "Delete",
    "DurationSeconds",
    "KeyedHasher",
    "LoginAuth",
    "LowerStr",
    "MountInfo",
    "NoInput",
    "NotFound",
    "Operation",
    "Path",
    "PermissionDenied",
    "Put",
    "RenewRequest",
    "Request",
    "Response",
    "Storage",
    "StorageView",
    "StrList",
    "UpstreamError",
    "UpstreamTimeout",
    "UserLockout",
    "WardgateError",
    "WeakStr",
    "WriteOp",
    "ip_allowed",
    "is_subset",
    "rfc3339",
    "same_digest",
]
