"""tus v1.0.0 headers: names, the capabilities announced, and parsing of the values clients
send (Upload-Metadata, offsets and lengths). Upload-Checksum is parsed by
domain/digests.py `parse_tus_checksum` (crc32c, sha1, sha256)."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime
from email.utils import format_datetime

from ..domain.errors import InvalidInput
from . import params

TUS_VERSION = "1.0.0"
EXTENSIONS = (
    "creation",
    "creation-with-upload",
    "creation-defer-length",
    "termination",
    "expiration",
    "checksum",
    "concatenation",
)
OFFSET_OCTET_STREAM = "application/offset+octet-stream"
# RFC 9110 media type: token "/" token, then parameters (kept as sent).
_MEDIA_TYPE = re.compile(r"[\w!#$&^.+-]+/[\w!#$&^.+-]+(\s*;[^\x00-\x1f]*)?", re.ASCII)
MAX_MEDIA_TYPE = 255  # the column's width
# Everything a browser client must be able to read or send (CORS).
EXPOSED = (
    "Location",
    "Upload-Offset",
    "Upload-Length",
    "Upload-Metadata",
    "Upload-Defer-Length",
    "Upload-Concat",
    "Upload-Expires",
    "Upload-Complete",
    "Upload-Limit",
    "Upload-Draft-Interop-Version",
    "Tus-Resumable",
    "Tus-Version",
    "Tus-Extension",
    "Tus-Max-Size",
    "Tus-Checksum-Algorithm",
)


def whole(raw: str | None, name: str) -> int | None:
    if raw is None:
        return None
    return params.whole_number(raw, f"{name} must be a whole number of bytes")


def parse_metadata(raw: str | None) -> dict[str, str]:
    """`key base64value,key2,…` → {key: decoded text}; a key without a value maps to ""."""
    found: dict[str, str] = {}
    if not raw or not raw.strip():
        return found
    for item in raw.split(","):
        key, _, value = item.strip().partition(" ")
        if not key:
            raise InvalidInput("Upload-Metadata has an empty key")
        try:
            found[key] = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, ValueError):
            raise InvalidInput(f"Upload-Metadata value of {key!r} is not base64 text") from None
    return found


def file_type(metadata: dict[str, str]) -> str | None:
    """`filetype` (what tus-js-client and Uppy send: the browser's File.type) as the file's
    MIME type; empty or absent: None (the type is then guessed from the name)."""
    raw = metadata.get("filetype", "").strip()
    if not raw:
        return None
    if len(raw) > MAX_MEDIA_TYPE or not _MEDIA_TYPE.fullmatch(raw):
        raise InvalidInput(
            f"Upload-Metadata filetype {raw[:80]!r} is not a MIME type (type/subtype)"
        )
    return raw


def format_metadata(values: dict[str, str]) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def http_date(moment: datetime) -> str:
    return format_datetime(moment, usegmt=True)
