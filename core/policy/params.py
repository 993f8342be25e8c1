"""Parameter constraints (allowed_parameters, denied_parameters, required_parameters).

Vault compares a request field's raw value with the policy's values, so a denial of `admin`
on `token_policies` is escaped by sending `["admin"]` (a list is not equal to a string) or
`"dev,admin"` (a comma string is not equal to `admin`). wardgate compares elements:

- a list value is checked element by element;
- a string is also read as a comma-separated list, because many fields (policies, CIDRs)
  accept that form and the ACL cannot know which reading the handler will apply.
  A denial matches if the whole string or ANY comma piece matches. An allowance needs EVERY
  piece to be allowed, or the whole string to match an allowed value that itself contains a
  comma (the policy author wrote a comma, so they meant such a value);
- values are compared as canonical text, so `3600`, `"3600"` and `3600.0` are one value, and
  `true` equals `"true"`;
- denials also match case-insensitively (a handler may lower-case `ADMIN` to `admin`);
  allowances stay exact, so a case change can only make a request fail, never pass.

Value patterns follow Vault's glob-at-the-ends rule (`dev-*`, `*-prod`, `*mid*`); a bare `*`
means any value (in Vault it only matches the literal `*`). An empty value list means any
value, as in Vault.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

ANY = "*"


def canonical(value: object) -> str:
    """One text form per scalar value (policy values and request values alike)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    # Maps (e.g. metadata) and anything else: stable JSON, so equal values compare equal.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def glob_match(pattern: str, value: str) -> bool:
    """Vault's strutil.GlobbedStringsMatch, plus a bare `*` matching anything."""
    if pattern == ANY:
        return True
    if len(pattern) < 2:
        return value == pattern
    starts, ends = pattern[0] == "*", pattern[-1] == "*"
    if starts and ends:
        return pattern[1:-1] in value
    if starts:
        return value.endswith(pattern[1:])
    if ends:
        return value.startswith(pattern[:-1])
    return value == pattern


def _scalars(value: object) -> Iterator[str]:
    """The canonical scalars inside a request value (lists flattened, None skipped)."""
    if value is None:
        return
    if isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _scalars(item)
        return
    yield canonical(value)


def _pieces(text: str) -> list[str]:
    return [piece for piece in (part.strip() for part in text.split(",")) if piece]


@dataclass(frozen=True, slots=True)
class ParamRules:
    """The merged parameter constraints of one path rule, ready for checking.

    For `allowed`/`denied`: None means unset; a value of () means any value.
    `denied` patterns are stored case-folded.
    """

    allowed: Mapping[str, tuple[str, ...]] | None
    denied: Mapping[str, tuple[str, ...]] | None
    required: tuple[str, ...]

    @classmethod
    def build(
        cls,
        allowed: Mapping[str, list[str]] | None,
        denied: Mapping[str, list[str]] | None,
        required: list[str],
    ) -> ParamRules:
        return cls(
            allowed=None if not allowed else {k: _norm(v) for k, v in allowed.items()},
            denied=None if not denied else {k: _norm(v, fold=True) for k, v in denied.items()},
            required=tuple(required),
        )

    @property
    def empty(self) -> bool:
        return self.allowed is None and self.denied is None and not self.required

    def refusal(self, params: Mapping[str, object]) -> str | None:
        """Why `params` break these constraints, or None when they do not."""
        # A null field counts as not sent, as the pipeline treats it (Request.given).
        # A list of pairs, not a dict: `token_policies` and `TOKEN_POLICIES` in one body are
        # both checked (folding them into one key would let the unchecked one through).
        given = [(k.lower(), v) for k, v in params.items() if v is not None]
        names = {name for name, _ in given}
        for name in self.required:
            if name not in names:
                return f'required parameter "{name}" is missing'
        if not given:
            return None  # as Vault: constraints only restrict parameters that are sent
        if self.denied is not None:
            if ANY in self.denied:
                return 'all parameters are denied ("*")'
            for name, value in given:
                patterns = self.denied.get(name)
                if patterns is not None and _denied(value, patterns):
                    return f'parameter "{name}" has a denied value'
        if self.allowed is not None:
            allow_any_name = ANY in self.allowed
            if allow_any_name and len(self.allowed) == 1:
                return None
            for name, value in given:
                patterns = self.allowed.get(name)
                if patterns is None:
                    if not allow_any_name:
                        return f'parameter "{name}" is not allowed'
                elif not _allowed(value, patterns):
                    return f'parameter "{name}" has a value that is not allowed'
        return None


def _norm(values: list[str], *, fold: bool = False) -> tuple[str, ...]:
    # An empty list and a list holding a bare `*` both mean "any value": keep one form.
    if not values or ANY in values:
        return ()
    return tuple(dict.fromkeys(v.casefold() if fold else v for v in values))


def _denied(value: object, patterns: tuple[str, ...]) -> bool:
    if not patterns:
        return True  # an empty denied list refuses the parameter whatever its value
    for scalar in _scalars(value):
        candidates = [scalar, scalar.strip()]
        if "," in scalar:
            candidates.extend(_pieces(scalar))
        for candidate in candidates:
            folded = candidate.casefold()
            if any(glob_match(p, folded) for p in patterns):
                return True
    return False


def _allowed(value: object, patterns: tuple[str, ...]) -> bool:
    if not patterns:
        return True
    for scalar in _scalars(value):
        if "," in scalar:
            pieces = _pieces(scalar)
            # No pieces at all ("," or " , ") is not a list reading to trust.
            pieces_ok = bool(pieces) and all(
                any(glob_match(p, piece) for p in patterns) for piece in pieces
            )
            whole_ok = any("," in p and glob_match(p, scalar) for p in patterns)
            if not (pieces_ok or whole_ok):
                return False
        elif not any(glob_match(p, scalar) for p in patterns):
            return False
    return True
