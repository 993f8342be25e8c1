"""HMAC of audited values (Vault's salt.GetIdentifiedHMAC and hashstructure rules).

Every string leaf of request and response data is hashed, recursively through maps and lists;
map keys, numbers, booleans, nulls and RFC3339 timestamps stay clear. `log_raw` hashes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any

_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})\Z")


def hmac_value(salt: bytes, value: str) -> str:
    digest = hmac.new(salt, value.encode("utf-8"), hashlib.sha256).hexdigest()
    return "hmac-sha256:" + digest


class Hasher:
    """One device's view: its salt (None with `log_raw`) and whether accessors are hashed."""

    __slots__ = ("_accessors", "_salt")

    def __init__(self, salt: bytes | None, *, hmac_accessor: bool = True) -> None:
        self._salt = salt
        self._accessors = hmac_accessor

    def secret(self, value: str) -> str:
        if self._salt is None or not value:
            return value
        return hmac_value(self._salt, value)

    def accessor(self, value: str) -> str:
        return self.secret(value) if self._accessors else value

    def data(self, value: Any) -> Any:
        """A copy of `value` with every string leaf hashed; map keys sorted (as Go encodes)."""
        if self._salt is None:
            return _sorted(value)
        if isinstance(value, str):
            return value if _RFC3339.match(value) else hmac_value(self._salt, value)
        if isinstance(value, dict):
            return {str(k): self.data(value[k]) for k in sorted(value, key=str)}
        if isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        return value


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _sorted(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list | tuple):
        return [_sorted(v) for v in value]
    return value


def elide_list(data: Any) -> Any:
    """`elide_list_responses`: a list response's `keys` and `key_info` become their counts."""
    if not isinstance(data, dict):
        return data
    out = dict(data)
    if isinstance(out.get("keys"), list):
        out["keys"] = len(out["keys"])
    if isinstance(out.get("key_info"), dict):
        out["key_info"] = len(out["key_info"])
    return out
