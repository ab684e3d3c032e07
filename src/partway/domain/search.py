"""Finding files and folders by name within a drive or a folder's subtree."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from .errors import InvalidInput, NotFound
from .models import ROOT_FOLDER_ID, Entry, EntryKind, Tenant
from .paging import DEFAULT_PAGE, Page, check_limit
from .ports import Clock
from .repositories import EntryRepository
from .tree import Tree

MAX_TERMS = 8
_FOREIGN = "cursor is not one this server issued"


@dataclass(frozen=True)
class Scope:
    """Where to look: a drive (None: all of the consumer's), below a folder (any depth) or
    right inside one, and only entries with a live shared link if `shared`."""

    drive_id: str | None = None
    below: str | None = None
    inside: str | None = None
    shared: bool = False


@dataclass(frozen=True)
class Search:
    text: str
    scope: Scope
    cursor: str | None = None
    limit: int = DEFAULT_PAGE


class SearchRepository(Protocol):
    async def search_entries(
        self,
        tenant: Tenant,
        terms: list[str],
        scope: Scope,
        live_at: datetime,
        after: tuple[str, str] | None,
        limit: int,
    ) -> list[Entry]:
        """Entries whose names hold every term (case-insensitively), ordered by (name, id),
        starting after `after`."""


def terms_of(text: str) -> list[str]:
    terms = [t.lower() for t in text.split()]
    if len(terms) > MAX_TERMS:
        raise InvalidInput(f"a query takes at most {MAX_TERMS} words")
    return terms


def name_cursor(name: str, entry_id: str) -> str:
    raw = f"n:{entry_id}:{name}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_name(cursor: str | None) -> tuple[str, str] | None:
    """(name, id) of the last entry of the previous page."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidInput(_FOREIGN) from None
    kind, _, rest = raw.partition(":")
    entry_id, _, name = rest.partition(":")
    # No name or id holds a NUL (PostgreSQL refuses one in any text: a forged cursor was a 500).
    if kind != "n" or not entry_id or "\x00" in raw:
        raise InvalidInput(_FOREIGN)
    return name, entry_id


class SearchService:
    def __init__(
        self, repo: SearchRepository, entries: EntryRepository, tree: Tree, clock: Clock
    ) -> None:
        self._repo = repo
        self._entries = entries
        self._tree = tree
        self._clock = clock

    async def _check_scope(self, tenant: Tenant, scope: Scope) -> Scope:
        if scope.drive_id is not None:
            scope = replace(scope, drive_id=await self._tree.drive_id(tenant, scope.drive_id))
        for folder_id in (scope.below, scope.inside):
            if folder_id is None or folder_id == ROOT_FOLDER_ID:
                continue
            folder = await self._entries.get_entry(tenant, folder_id)
            wrong_drive = (
                scope.drive_id is not None and folder and folder.drive_id != scope.drive_id
            )
            if folder is None or folder.kind is not EntryKind.FOLDER or wrong_drive:
                raise NotFound(f"folder {folder_id!r} not found")
            # The folder's drive narrows the search to one range of the entries' name index.
            scope = replace(scope, drive_id=folder.drive_id)
        return scope

    async def search(self, tenant: Tenant, search: Search) -> Page[Entry]:
        check_limit(search.limit)
        scope = await self._check_scope(tenant, search.scope)
        after = cursor_name(search.cursor)
        rows = await self._repo.search_entries(
            tenant, terms_of(search.text), scope, self._clock(), after, search.limit + 1
        )
        more = len(rows) > search.limit
        items = rows[: search.limit]
        next_cursor = name_cursor(items[-1].name, items[-1].id) if more else None
        return Page(items, search.cursor, next_cursor)
