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
from core.framework.network import ip_allowed
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
)
from core.framework.storage import Delete, Put, Storage, StorageView, WriteOp

__all__ = [
    "Backend",
    "BackendContext",
    "BackendFactory",
    "BadRequest",
    "Clock",
    "CommaList",
    "Delete",
    "DurationSeconds",
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
    "WardgateError",
    "WeakStr",
    "WriteOp",
    "ip_allowed",
]
