"""Field types for path schemas, decoded the way Vault's framework decodes them.

A path's input is a msgspec Struct whose fields use these types. msgspec hands values of these
classes to `decode_hook`, which applies Vault's weak decoding: durations from integers or Go
duration strings, comma-separated lists, numbers accepted where strings are expected.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, TypeVar

import msgspec

from core.framework.errors import BadRequest

_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
}
# Go's time.Duration range (2^63-1 ns): Vault cannot hold a longer duration; a longer string is
# Go's `time: invalid duration`, a larger integer would wrap. Refused rather than stored.
MAX_DURATION_SECONDS = (2**63 - 1) // 10**9
# Vault's integer fields are Go int64.
MAX_INT64 = 2**63 - 1
_DURATION_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h|d)")


class DurationSeconds(int):
    """Whole seconds; accepts `3600`, `"3600"`, `"1h30m"`, `"1.5h"`, `"1d"`; never negative."""


class SignedDuration(int):
    """Like DurationSeconds, but the caller checks the sign (tune's `-1`, say)."""


class CommaList(list[str]):
    """A JSON list of strings or one comma-separated string; items trimmed, empties dropped."""


class StrList(list[str]):
    """A JSON list of strings, or one string taken whole (token create does not split commas)."""


# An int the handler refuses below 0 with Vault's own message (so msgspec does not check that:
# its message would replace Vault's); msgspec refuses one beyond Go's int64, naming the field.
NonNegativeInt = Annotated[int, msgspec.Meta(le=MAX_INT64, extra_json_schema={"minimum": 0})]


class WeakStr(str):
    """A string that also accepts JSON numbers and booleans (Vault's TypeString)."""


class KVPairs(dict[str, str]):
    """Vault's TypeKVPairs: an object of scalar values, or `"k=v"` strings (one, or a list), so
    the CLI's `options=file_path=/x` (repeated for more) is the object {"file_path": "/x"}."""


class LowerStr(str):
    """A WeakStr lower-cased (Vault's TypeLowerCaseString)."""


def parse_duration(value: Any) -> int:
    """Seconds from an int or a Go-style duration string. Raises ValueError with Vault's text."""
    if isinstance(value, bool):
        raise ValueError(f"cannot parse {value!r} as a duration")
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, float):
        # Vault refuses JSON floats (even 7200.0): a duration needs a unit or an integer.
        # Vault quotes the number as it was sent; repr() gives back the usual spelling.
        raise ValueError(f'time: missing unit in duration "{value!r}"')
    elif isinstance(value, str):
        seconds = _parse_duration_text(value.strip())
        if abs(seconds) > MAX_DURATION_SECONDS:
            raise ValueError(f'time: invalid duration "{value.strip()}"')
    else:
        raise ValueError(f"cannot parse {type(value).__name__} as a duration")
    if abs(seconds) > MAX_DURATION_SECONDS:
        raise ValueError(f"duration {seconds} is out of range (at most {MAX_DURATION_SECONDS} s)")
    if seconds < 0:
        raise ValueError(f"cannot provide negative value '{seconds}'")
    return seconds


def _parse_duration_text(text: str) -> int:
    if text == "":
        return 0
    if re.fullmatch(r"[+-]?[0-9]+", text):
        return int(text)
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("+-")
    total = 0.0
    pos = 0
    for match in _DURATION_PART.finditer(body):
        if match.start() != pos or match.group(1) in ("", "."):
            raise ValueError(f'time: invalid duration "{text}"')
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(body) or pos == 0:
        if re.fullmatch(r"[0-9.]+", body):
            raise ValueError(f'time: missing unit in duration "{text}"')
        raise ValueError(f'time: invalid duration "{text}"')
    # Sub-second remainders truncate, as Vault's seconds conversion does.
    return sign * int(total + 1e-9)


def format_duration(seconds: int) -> str:
    """Render seconds the way Vault prints them in warnings: `1h30m`, `100h`, `45s`."""
    if seconds == 0:
        return "0s"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = []
    if hours:
        parts.append(f"{hours}h")
    if minutes:
        parts.append(f"{minutes}m")
    if secs:
        parts.append(f"{secs}s")
    return "".join(parts)


def parse_comma_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        items: list[Any] = value.split(",")
    elif isinstance(value, list):
        items = value
    else:
        raise ValueError(
            f"expected a list of strings or a comma-separated string, got {json_kind(value)}"
        )
    out: list[str] = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise ValueError(
                f"expected a list of strings, got an element that is {json_kind(item)}"
            )
        text = str(item).strip()
        if text:
            out.append(text)
    return out


def parse_kv_pairs(value: Any) -> dict[str, str]:
    if isinstance(value, dict):
        return {str(key): _weak_str(item) for key, item in value.items()}
    pairs: dict[str, str] = {}
    for item in value if isinstance(value, list) else [value]:
        key, sep, text = _weak_str(item).partition("=")
        if not sep or not key:
            raise ValueError(f"invalid key pair {_weak_str(item)!r} (write key=value)")
        pairs[key] = text
    return pairs


def _weak_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise ValueError(f"expected a string, got {json_kind(value)}")


def json_kind(value: Any) -> str:
    """How a decoded JSON value is named in error messages ("an array", "a string", ...)."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "a string" if isinstance(value, str) else type(value).__name__


def encode_hook(value: Any) -> Any:
    """msgspec encodes only exact builtins; these field types subclass them."""
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, list):
        return list(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def json_encoder() -> msgspec.json.Encoder:
    """The encoder for anything that may hold decoded field values (responses, storage)."""
    return msgspec.json.Encoder(enc_hook=encode_hook)


def decode_hook(type_: type, value: Any) -> Any:
    if type_ is DurationSeconds:
        return DurationSeconds(parse_duration(value))
    if type_ is SignedDuration:
        if isinstance(value, str) and value.strip().startswith("-"):
            return SignedDuration(-parse_duration(value.strip()[1:]))
        if isinstance(value, int) and not isinstance(value, bool) and value < 0:
            return SignedDuration(value)
        return SignedDuration(parse_duration(value))
    if type_ is CommaList:
        return CommaList(parse_comma_list(value))
    if type_ is StrList:
        if isinstance(value, str):
            return StrList([value])
        return StrList(parse_comma_list(value if isinstance(value, list) else [value]))
    if type_ is WeakStr:
        return WeakStr(_weak_str(value))
    if type_ is KVPairs:
        return KVPairs(parse_kv_pairs(value))
    if type_ is LowerStr:
        return LowerStr(_weak_str(value).lower())
    raise NotImplementedError(f"no decoder for {type_!r}")


StructT = TypeVar("StructT", bound=msgspec.Struct)

_FIELD_AT = re.compile(r" - at `\$\.([A-Za-z0-9_]+)[^`]*`$")
_CACHED_FIELD_NAMES: dict[type, frozenset[str]] = {}


def field_names(struct_type: type[msgspec.Struct]) -> frozenset[str]:
    names = _CACHED_FIELD_NAMES.get(struct_type)
    if names is None:
        names = frozenset(f.encode_name for f in msgspec.structs.fields(struct_type))
        _CACHED_FIELD_NAMES[struct_type] = names
    return names


def decode_input(struct_type: type[StructT], raw: dict[str, Any]) -> StructT:
    """Validate raw request data into the path's input Struct (unknown keys are ignored here).

    Raises BadRequest naming the field: `error converting input for field "x": ...`.
    """
    known = field_names(struct_type)
    present = {k: v for k, v in raw.items() if k in known and v is not None}
    try:
        return msgspec.convert(present, struct_type, dec_hook=decode_hook, strict=False)
    except msgspec.ValidationError as exc:
        text = str(exc)
        match = _FIELD_AT.search(text)
        if match is None:
            raise BadRequest(f"invalid input: {text}") from None
        reason = text[: match.start()]
        reason = reason[0].lower() + reason[1:] if reason else reason
        raise BadRequest(f'error converting input for field "{match.group(1)}": {reason}') from None


def unknown_fields(struct_type: type[msgspec.Struct] | None, raw: dict[str, Any]) -> list[str]:
    known = field_names(struct_type) if struct_type is not None else frozenset()
    return sorted(k for k in raw if k not in known)


def unknown_fields_warning(names: list[str]) -> str:
    return f"Endpoint ignored these unrecognized parameters: [{' '.join(names)}]"
