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


# Metadata rides in every session and file row and answer: bounded like a tus server's header.
MAX_METADATA_PAIRS = 64
MAX_METADATA_BYTES = 8192


def check_metadata(values: dict[str, str]) -> dict[str, str]:
    """Upload metadata as kept: string pairs, non-empty keys, bounded in count and size."""
    if len(values) > MAX_METADATA_PAIRS:
        raise InvalidInput(f"metadata has more than {MAX_METADATA_PAIRS} keys")
    size = 0
    for key, value in values.items():
        if not isinstance(key, str) or not isinstance(value, str) or not key:
            raise InvalidInput("metadata must map non-empty keys to strings")
        if any(c.isspace() or c == "," or not c.isprintable() for c in key):
            # tus sends them as `key base64,key base64`: a key is one token.
            raise InvalidInput(f"metadata key {key!r} has a space, comma or control character")
        size += len(key.encode("utf-8", "replace")) + len(value.encode("utf-8", "replace"))
    if size > MAX_METADATA_BYTES:
        raise InvalidInput(f"metadata is over {MAX_METADATA_BYTES} bytes")
    return dict(values)
