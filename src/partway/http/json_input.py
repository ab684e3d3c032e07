"""JSON from clients, read with the two limits json.loads lacks: nesting depth and Unicode text.

json.loads recurses once per level of nesting (RecursionError near 1,000 levels, and a body of
100,000 `[` is 100 KB), and it turns the escape of half a UTF-16 pair (`"\\ud800"`) into a str
that no encoder (UTF-8, the SQL driver, the JSON of the reply) can write. Both are refused here,
before anything reaches a model; so is NUL (`"\\u0000"`), which PostgreSQL refuses in any text
(a 500 from the driver) and SQLite cuts a string at.
"""

from __future__ import annotations

import itertools
import json
import re

from ..domain.errors import InvalidInput

# An Apideck body reaches a pass-through value 5 levels down (body → pass_through → item →
# extend_paths → item); 64 leaves room for any such value, far below the recursion limit.
MAX_DEPTH = 64
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}
_CHUNK = 4096  # brackets per step of the scan, so a deep prefix is refused without reading on
_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_NUL = re.compile("\x00")
_NUL_ESCAPE = "\\u0000"


def load(raw: bytes | str, what: str) -> object:
    """The JSON value of `raw` (UTF-8 if bytes); InvalidInput names what is wrong with it."""
    text = _text(raw, what)
    if _deeper_than(text, MAX_DEPTH):
        raise InvalidInput(f"{what} is nested more than {MAX_DEPTH} levels deep")
    try:
        data = json.loads(text)
    except ValueError:
        raise InvalidInput(f"{what} is not valid JSON") from None
    if _SURROGATE.search(text) or _SURROGATE_ESCAPE.search(text):
        where = _found_in(data, _SURROGATE)
        if where is not None:
            raise InvalidInput(
                f"{what} is invalid: {where}: a lone UTF-16 surrogate (\\ud800-\\udfff) "
                "is not Unicode text"
            )
    if _NUL_ESCAPE in text:  # a raw NUL is no valid JSON: only its escape gets this far
        where = _found_in(data, _NUL)
        if where is not None:
            raise InvalidInput(f"{what} is invalid: {where}: a NUL character (\\u0000) is not text")
    return data


def _text(raw: bytes | str, what: str) -> str:
    if isinstance(raw, str):
        return raw
    try:
        return raw.decode("utf-8-sig")  # RFC 8259 §8.1: UTF-8; a leading BOM may be ignored
    except UnicodeDecodeError:
        raise InvalidInput(f"{what} is not valid JSON: it is not UTF-8 text") from None


def _deeper_than(text: str, limit: int) -> bool:
    """Whether brackets outside strings nest deeper than `limit` (40-80 ms for 1 MiB of JSON)."""
    if text.count("[") + text.count("{") <= limit:
        return False  # nearly every body: too few brackets to nest that deep
    outside = _STRING.sub("", text).encode("utf-8", "surrogatepass")
    brackets = outside.translate(None, _NOT_BRACKETS)
    depth = 0
    for start in range(0, len(brackets), _CHUNK):
        steps = map(_STEP.__getitem__, brackets[start : start + _CHUNK])
        levels = list(itertools.accumulate(steps, initial=depth))
        if max(levels) > limit:
            return True
        depth = levels[-1]
    return False


def _found_in(data: object, pattern: re.Pattern[str], path: str = "body") -> str | None:
    """Where in `data` (a parsed JSON value) a string or key holds `pattern`, if anywhere.

    Recursive: call it only on values within MAX_DEPTH.
    """
    if isinstance(data, str):
        return path if pattern.search(data) else None
    if isinstance(data, dict):
        items = list(data.items())
    elif isinstance(data, list):
        items = list(enumerate(data))
    else:
        return None
    for key, value in items:
        if isinstance(key, str) and pattern.search(key):
            return f"a key in {path}"
        found = _found_in(value, pattern, str(key) if path == "body" else f"{path}.{key}")
        if found is not None:
            return found
    return None
