"""Checks on a request's form, made before anything else looks at it."""

from __future__ import annotations

import re

from core.framework.errors import BadRequest

# In the path as the client sent it: a control byte, or one percent-encoded (`%09`, `%0D%0A`,
# `%1B`, `%7F`, and C1 controls such as NEL `%C2%85`), and the Unicode line separators. Such a
# path used to be decoded and silently normalised (`sys/pol%09icy/default` served
# `sys/policy/default`); it is refused instead, judged on the raw bytes.
_RAW_CONTROL = re.compile(
    rb"[\x00-\x1f\x7f]|%[01][0-9a-f]|%7f|%c2%[89][0-9a-f]|%e2%80%a[89]", re.IGNORECASE
)
# The decoded path, for servers that give no raw path: C0, DEL, C1 and U+2028/U+2029.
_DECODED_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def check_raw_path(raw_path: object, path: str) -> None:
    """400 for a control character in the request path, raw or percent-encoded."""
    if isinstance(raw_path, bytes) and _RAW_CONTROL.search(raw_path.split(b"?", 1)[0]):
        raise BadRequest("the request path contains a control character")
    if _DECODED_CONTROL.search(path):
        raise BadRequest("the request path contains a control character")
