"""Validation of user-supplied names. Names are metadata only: storage never sees them.

A name is kept in Unicode NFC, so the two spellings of `café` (é, or e + combining acute) are one
name in a folder. It holds no control or invisible format character (categories Cc and Cf: zero
width spaces and joiners, bidi marks, embeddings, overrides and isolates…): with those, two names
look the same, and `invoice` U+202E `fdp.exe` shows as `invoiceexe.pdf`.
"""

from __future__ import annotations

import unicodedata

from .errors import InvalidInput

MAX_NAME_BYTES = 255
_UNSEEN = ("Cc", "Cf")


def check_name(name: str, what: str = "name") -> str:
    """The name as stored and compared (NFC); InvalidInput if it cannot be one."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInput(f"{what} is not valid Unicode text") from exc
    name = unicodedata.normalize("NFC", name)
    if not name or not name.strip():
        raise InvalidInput(f"{what} must not be empty")
    if name in (".", ".."):
        raise InvalidInput(f"{what} {name!r} is reserved")
    if "/" in name or "\\" in name:
        raise InvalidInput(
            f"{what} must not contain '/' or '\\': pick a folder with parent_folder_id"
        )
    unseen = next((c for c in name if unicodedata.category(c) in _UNSEEN), None)
    if unseen is not None:
        raise InvalidInput(
            f"{what} must not contain control or invisible characters, such as "
            f"U+{ord(unseen):04X} {unicodedata.name(unseen, '(a control character)')}"
        )
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise InvalidInput(f"{what} is longer than {MAX_NAME_BYTES} bytes")
    return name
