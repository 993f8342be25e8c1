"""What is known about one request, and its audit entries in Vault's JSON shape.

A face of the server creates an `AuditRecord` per request and fills it in as it learns things
(path, caller, mount, data, outcome). `entry()` renders it for one device: the request entry has
`time, type, auth, request, error`; the response entry adds `response` (Vault's field order).
"""

from __future__ import annotations

import base64
import hashlib
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec

from core.audit.hashing import Hasher, elide_list
from core.framework.errors import WardgateError
from core.framework.path import MountInfo
from core.tables import RequestTables

_ROOT_NAMESPACE = {"id": "root"}
_PERMISSION_DENIED = "1 error occurred:\n\t* permission denied\n\n"
_INVALID_REQUEST = "1 error occurred:\n\t* invalid request\n\n"


@dataclass(slots=True)
class AuditRecord:
    request_id: str
    remote_address: str | None = None
    remote_port: int | None = None
    # None: the request is not audited (sys/health and the like, or not a /v1/ path).
    path: str | None = None
    operation: str = "read"
    data: dict[str, Any] | None = None
    # The calling token (its text, hashed in the entry) and its stored entry (a TokenEntry).
    token: str = ""
    caller: Any = None
    allowed: bool | None = None
    mount_point: str = ""
    mount_type: str = ""
    mount_accessor: str = ""
    mount_class: str = ""
    # A login path (its failures audit as "invalid credentials"; its token is the entry's auth).
    login: bool = False
    error: str = ""
    error_message: str = ""
    response_data: Any = None
    # The issued token's auth block (AuthBlock) and its stored entry, for logins and creates.
    response_auth: Any = None
    warnings: list[str] = field(default_factory=list)
    request_logged: bool = False
    # AuditBroker's count of its own table writes when the request entry was handled.
    audit_changes: int = -1
    # The stored tables as read at the request's start (core/tables.py), if it read them.
    tables: RequestTables | None = None
    # A rate-limited request: only its request entry is written (Vault's audit of rejections).
    request_only: bool = False
    # Headers the answer carries besides the usual (X-Ratelimit-*).
    response_headers: dict[str, str] | None = None

    def describe_mount(self, prefix: str, info: MountInfo, *, auth: bool) -> None:
        """The mount fields of the entries: the mount that serves the request (either face)."""
        self.mount_point = prefix
        self.mount_type = info.type
        self.mount_accessor = info.accessor
        self.mount_class = "auth" if auth else "secret"

    def fail(self, exc: WardgateError) -> None:
        """The request ended in an error: the outer error text Vault writes, and the message
        (hashed, as `response.data.error`)."""
        messages = exc.client_messages()
        self.failed(exc.status, messages[0] if messages else "")

    def failed(self, status: int, message: str) -> None:
        """`fail` for a face whose errors are not wardgate's (the Infisical face's)."""
        self.error_message = message
        if status == 403:
            self.error = _PERMISSION_DENIED
            if self.caller is not None:
                self.allowed = False
        elif status >= 500:
            self.error = "internal error"
        elif self.login:
            self.error = "invalid credentials"
        elif status == 429:
            self.error = self.error_message
        else:
            self.error = _INVALID_REQUEST


def rfc3339_nano(ts: float) -> str:
    moment = datetime.fromtimestamp(ts, UTC)
    fraction = f"{moment.microsecond:06d}".rstrip("0")
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + "Z"


def client_id(policies: list[str]) -> str:
    """Vault's CreateClientID for a token without an entity: the sorted policies and the
    namespace, hashed, so one client is counted once however many tokens it holds."""
    material = "\x7f".join(sorted(policies)) + "\x00" + "root"
    return base64.b64encode(hashlib.sha256(material.encode()).digest()).decode()


def _caller_auth(record: AuditRecord, hasher: Hasher) -> dict[str, Any]:
    entry = record.caller
    if entry is None:
        auth: dict[str, Any] = {}
        if record.allowed is not None:
            auth["policy_results"] = {"allowed": record.allowed}
        auth["token_type"] = "default"
        return auth
    auth = {"client_token": hasher.secret(record.token)}
    if entry.accessor:
        auth["accessor"] = hasher.accessor(entry.accessor)
    auth["display_name"] = entry.display_name
    auth["policies"] = list(entry.policies)
    auth["token_policies"] = list(entry.policies)
    if entry.meta:
        auth["metadata"] = dict(sorted(entry.meta.items()))
    if record.allowed is not None:
        auth["policy_results"] = {"allowed": record.allowed}
    if entry.num_uses > 0:
        auth["remaining_uses"] = entry.num_uses
    auth["token_type"] = entry.type
    if entry.creation_ttl:
        auth["token_ttl"] = entry.creation_ttl
    auth["token_issue_time"] = rfc3339_nano(int(entry.creation_time))
    return auth


def _issued_auth(block: Any, hasher: Hasher) -> dict[str, Any]:
    """`response.auth`: the token a login or create handed out (metadata stays clear, as in
    Vault: for an AliCloud login it is the caller's identity, account, ARN and principal)."""
    auth: dict[str, Any] = {"client_token": hasher.secret(block.client_token)}
    if block.accessor:
        auth["accessor"] = hasher.accessor(block.accessor)
    auth["policies"] = list(block.policies)
    auth["token_policies"] = list(block.token_policies)
    if block.metadata:
        auth["metadata"] = dict(sorted(block.metadata.items()))
    if block.num_uses:
        auth["num_uses"] = block.num_uses
    auth["token_type"] = block.token_type
    if block.lease_duration:
        auth["token_ttl"] = block.lease_duration
    return auth


def _mount_fields(record: AuditRecord, into: dict[str, Any]) -> None:
    if record.mount_point:
        into["mount_point"] = record.mount_point
        into["mount_type"] = record.mount_type
        if record.mount_accessor:
            into["mount_accessor"] = record.mount_accessor
        into["mount_class"] = record.mount_class


def entry(
    record: AuditRecord, kind: str, hasher: Hasher, *, elide_lists: bool = False
) -> dict[str, Any]:
    assert record.path is not None
    if kind == "response" and record.login and record.response_auth is not None:
        auth = _issued_auth(record.response_auth, hasher)
    else:
        auth = _caller_auth(record, hasher)
    request: dict[str, Any] = {"id": record.request_id}
    if record.caller is not None:
        request["client_id"] = client_id(list(record.caller.policies))
    request["operation"] = record.operation
    _mount_fields(record, request)
    if record.token:
        request["client_token"] = hasher.secret(record.token)
        if record.caller is not None and record.caller.accessor:
            request["client_token_accessor"] = hasher.accessor(record.caller.accessor)
    request["namespace"] = _ROOT_NAMESPACE
    request["path"] = record.path
    if record.data:
        request["data"] = hasher.data(record.data)
    if record.remote_address:
        request["remote_address"] = record.remote_address
        if record.remote_port is not None:
            request["remote_port"] = record.remote_port
    out: dict[str, Any] = {"time": rfc3339_nano(time.time()), "type": kind, "auth": auth}
    out["request"] = request
    if kind == "response":
        out["response"] = _response(record, hasher, elide_lists)
    if record.error:
        out["error"] = record.error
    return out


def _response(record: AuditRecord, hasher: Hasher, elide_lists: bool) -> dict[str, Any]:
    response: dict[str, Any] = {}
    if record.response_auth is not None:
        response["auth"] = _issued_auth(record.response_auth, hasher)
    _mount_fields(record, response)
    data = record.response_data
    if record.error_message:
        data = {"error": record.error_message}
    if data:
        if elide_lists and record.operation == "list":
            data = elide_list(data)
        response["data"] = hasher.data(data)
    if record.warnings:
        response["warnings"] = list(record.warnings)
    return response


def _plain(value: Any) -> Any:
    """Handler data may hold str/int/list subclasses (the framework's field types)."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool | int):
        return int(value) if not isinstance(value, bool) else bool(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, dict):
        return dict(value)
    raise NotImplementedError(f"cannot audit a {type(value).__name__}")


_encoder = msgspec.json.Encoder(enc_hook=_plain)


def render(value: dict[str, Any], prefix: bytes = b"") -> bytes:
    """One line as Go's json.Encoder writes it: `<`, `>` and `&` escaped, newline-terminated."""
    raw = _encoder.encode(value)
    if b"<" in raw or b">" in raw or b"&" in raw:
        raw = raw.replace(b"<", b"\\u003c").replace(b">", b"\\u003e").replace(b"&", b"\\u0026")
    return prefix + raw + b"\n"
