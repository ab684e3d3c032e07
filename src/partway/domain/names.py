"""Validation of user-supplied names. Names are metadata only: storage never sees them."""

from __future__ import annotations

from .errors import InvalidInput

MAX_NAME_BYTES = 255


def check_name(name: str, what: str = "name") -> str:
    if not name or not name.strip():
        raise InvalidInput(f"{what} must not be empty")
    if name in (".", ".."):
        raise InvalidInput(f"{what} {name!r} is reserved")
    if "/" in name or "\\" in name:
        raise InvalidInput(
            f"{what} must not contain '/' or '\\': pick a folder with parent_folder_id"
        )
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise InvalidInput(f"{what} must not contain control characters")
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        raise InvalidInput(f"{what} is longer than {MAX_NAME_BYTES} bytes")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInput(f"{what} is not valid Unicode text") from exc
    return name
