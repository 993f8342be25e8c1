"""The wire shapes of Vault's responses, as msgspec Structs so field order and encoding are fixed
and fast (see reference/openbao-transcripts.md §0: envelope and auth block key order)."""

from __future__ import annotations

from typing import Any

import msgspec

from core.framework.fields import json_encoder


class AuthBlock(msgspec.Struct):
    client_token: str
    accessor: str
    policies: list[str]
    token_policies: list[str]
    metadata: dict[str, str] | None
    lease_duration: int
    renewable: bool
    entity_id: str = ""
    token_type: str = "service"
    orphan: bool = False
    mfa_requirement: None = None
    num_uses: int = 0


class WrapInfoBlock(msgspec.Struct):
    """A wrapped response's `wrap_info` (Vault's field order)."""

    token: str
    accessor: str
    ttl: int
    creation_time: str
    creation_path: str
    wrapped_accessor: str = ""


class Envelope(msgspec.Struct):
    request_id: str
    lease_id: str = ""
    renewable: bool = False
    lease_duration: int = 0
    data: Any = None
    wrap_info: WrapInfoBlock | None = None
    warnings: list[str] | None = None
    auth: AuthBlock | None = None


class ErrorBody(msgspec.Struct):
    errors: list[str]


_encoder = json_encoder()


def encode(value: Any) -> bytes:
    """Compact JSON plus the trailing newline Vault's bodies carry."""
    return _encoder.encode(value) + b"\n"


def encode_envelope(envelope: Envelope, *, legacy_top_level: bool) -> bytes:
    if not legacy_top_level or not isinstance(envelope.data, dict):
        return encode(envelope)
    # Legacy sys endpoints: every data key also at the top level, before request_id.
    merged: dict[str, Any] = dict(envelope.data)
    merged.update(msgspec.structs.asdict(envelope))
    return encode(merged)


def encode_errors(messages: list[str]) -> bytes:
    return encode(ErrorBody(messages))
