"""JSON from clients, read with a limit json.loads lacks: nesting depth.

json.loads recurses once per level of nesting (RecursionError near 1,000 levels, and a body of
100,000 `[` is 100 KB): deeper JSON is refused here, before it is parsed.
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


def load(raw: bytes | str, what: str) -> object:
    """The JSON value of `raw` (UTF-8 if bytes); InvalidInput names what is wrong with it."""
    text = _text(raw, what)
    if _deeper_than(text, MAX_DEPTH):
        raise InvalidInput(f"{what} is nested more than {MAX_DEPTH} levels deep")
    try:
        data = json.loads(text)
    except ValueError:
        raise InvalidInput(f"{what} is not valid JSON") from None
    return data


def _text(raw: bytes | str, what: str) -> str:
    if isinstance(raw, str):
        return raw
    try:
        return raw.decode("utf-8-sig")  # RFC 8259 §8.1: UTF-8; a leading BOM may be ignored
    except UnicodeDecodeError:
        raise InvalidInput(f"{what} is not valid JSON: it is not UTF-8 text") from None


def _deeper_than(text: str, limit: int) -> bool:
    """Whether brackets outside strings nest deeper than `limit` (~40 ms for 1 MiB of JSON)."""
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
