"""Pages of a listing: the page size rule and the opaque cursors that point past a page.

A cursor is `kind:value` in URL-safe base64. Each listing reads only its own kind, so a cursor
of one listing handed to another is refused as one this server did not issue.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from ..wire import MAX_PAGE
from .errors import InvalidInput

T = TypeVar("T")

DEFAULT_PAGE = 20
_OFFSET = re.compile(r"[0-9]{1,18}")
_FOREIGN = "cursor is not one this server issued"


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    cursor: str | None
    next_cursor: str | None


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}")
    return limit


def _encode(kind: str, value: str) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{value}".encode()).decode().rstrip("=")


def _decode(cursor: str, kind: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidInput(_FOREIGN) from None
    found, _, value = raw.partition(":")
    # A NUL is in nothing this server issues, and PostgreSQL refuses it in any text (a 500).
    if found != kind or "\x00" in value:
        raise InvalidInput(_FOREIGN)
    return value


def offset_cursor(offset: int) -> str:
    """Where the next page of an offset listing (files in a folder) starts."""
    return _encode("o", str(offset))


def cursor_offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    value = _decode(cursor, "o")
    # ASCII digits only, and few enough for the SQL OFFSET (a signed 64-bit integer).
    if not _OFFSET.fullmatch(value):
        raise InvalidInput(_FOREIGN)
    return int(value)


@dataclass(frozen=True)
class After:
    """A position in a listing ordered by creation time, ties broken by id: the next page
    starts after it. Rows added or removed meanwhile shift nothing, unlike an offset."""

    created_at: datetime
    id: str


def after_cursor(after: After) -> str:
    return _encode("s", f"{after.created_at.isoformat()}|{after.id}")


def cursor_after(cursor: str | None) -> After | None:
    if not cursor:
        return None
    stamp, _, row_id = _decode(cursor, "s").partition("|")
    try:
        created_at = datetime.fromisoformat(stamp)
    except ValueError:
        raise InvalidInput(_FOREIGN) from None
    if created_at.tzinfo is None or not row_id:
        raise InvalidInput(_FOREIGN)
    return After(created_at, row_id)
