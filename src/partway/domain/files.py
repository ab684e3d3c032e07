"""Files, folders and drives: what finished uploads land in."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Literal

from .digests import Digest
from .errors import InvalidInput, InvalidState, NotFound, RangeNotSatisfiable
from .events import (
    Event,
    EventSink,
    FileDeleted,
    FileUpdated,
    FolderCreated,
    FolderDeleted,
    FolderUpdated,
    NoEvents,
)
from .hooks import AccessAsk
from .models import (
    ROOT_FOLDER_ID,
    Entry,
    EntryKind,
    EntryPatch,
    NewSession,
    Tenant,
    new_id,
)
from .names import check_name
from .paging import DEFAULT_PAGE, Page, check_limit, cursor_offset, offset_cursor
from .ports import Clock
from .repositories import EntryRepository
from .rules import PartRule
from .tree import Tree
from .uploads import UploadService, raise_name_taken

SORT_FIELDS = ("name", "created_at", "updated_at")


@dataclass(frozen=True)
class Listing:
    folder_id: str | None = None
    drive_id: str | None = None
    sort_by: str = "name"
    descending: bool = False
    cursor: str | None = None
    limit: int = DEFAULT_PAGE


@dataclass(frozen=True)
class Download:
    entry: Entry
    start: int
    end: int
    chunks: AsyncIterator[bytes]


class FileService:
    def __init__(
        self,
        repo: EntryRepository,
        uploads: UploadService,
        clock: Clock,
        events: EventSink | None = None,
    ) -> None:
        self._events = events or NoEvents()
        self._repo = repo
        self._uploads = uploads
        self._clock = clock
        self.tree = Tree(repo)

    async def get(self, tenant: Tenant, entry_id: str, kind: EntryKind) -> Entry:
        entry = await self._repo.get_entry(tenant, entry_id)
        if entry is None or entry.kind is not kind:
            raise NotFound(f"{kind.value} {entry_id!r} not found")
        return entry

    async def list_folder(self, tenant: Tenant, listing: Listing) -> Page[Entry]:
        if listing.sort_by not in SORT_FIELDS:
            raise InvalidInput(f"sort[by] must be one of {', '.join(SORT_FIELDS)}")
        check_limit(listing.limit)
        drive_id = await self.tree.drive_id(tenant, listing.drive_id)
        if listing.folder_id is not None:
            await self.tree.folder(tenant, drive_id, listing.folder_id)
        offset = cursor_offset(listing.cursor)
        rows = await self._repo.list_entries(
            tenant,
            drive_id,
            listing.folder_id,
            None,
            listing.sort_by,
            listing.descending,
            offset,
            listing.limit + 1,
        )
        more = len(rows) > listing.limit
        return Page(
            items=rows[: listing.limit],
            cursor=listing.cursor,
            next_cursor=offset_cursor(offset + listing.limit) if more else None,
        )

    async def update(
        self, tenant: Tenant, entry_id: str, kind: EntryKind, patch: EntryPatch
    ) -> Entry:
        entry = await self.get(tenant, entry_id, kind)
        changed = entry
        if patch.name is not None:
            changed = replace(changed, name=check_name(patch.name))
        if patch.parent_folder_id is not None:
            await self.tree.check_move(tenant, entry, patch.parent_folder_id)
            changed = replace(changed, parent_id=patch.parent_folder_id)
        if patch.description is not None:
            changed = replace(changed, description=patch.description)
        if changed == entry:
            return entry
        moved = (changed.name, changed.parent_id) != (entry.name, entry.parent_id)
        if moved and await self._repo.name_taken(
            tenant, entry.drive_id, changed.parent_id, changed.name
        ):
            raise_name_taken(changed.name)
        changed = replace(changed, updated_at=self._clock())
        updated: Event = (
            FileUpdated(entry.id, tenant, changed.updated_at)
            if kind is EntryKind.FILE
            else FolderUpdated(entry.id, tenant, changed.updated_at)
        )
        await self._repo.update_entry(changed, (updated,))
        await self._events.publish(updated)
        return changed

    async def delete_file(self, tenant: Tenant, file_id: str) -> None:
        entry = await self.get(tenant, file_id, EntryKind.FILE)
        deleted = FileDeleted(entry.id, tenant, entry.size, self._clock())
        await self._repo.delete_entry(tenant, entry.id, (deleted,))
        if entry.storage_key and entry.service_id:
            await self._uploads.storage(entry.service_id).delete(entry.storage_key)
        await self._events.publish(deleted)

    async def download(
        self,
        tenant: Tenant,
        file_id: str,
        byte_range: tuple[int | None, int | None] | None,
        link_id: str | None = None,
    ) -> Download:
        """`link_id`: the shared link it is read through, if any (told to the pre-access hook)."""
        entry = await self.get(tenant, file_id, EntryKind.FILE)
        via: Literal["download", "shared_link"] = "shared_link" if link_id else "download"
        ask = AccessAsk(tenant, entry.id, entry.name, entry.size, via, link_id)
        await self._uploads.hooks.pre_access(ask)
        size = entry.size or 0
        start, end = resolve_range(byte_range, size)
        storage = self._uploads.storage(entry.service_id or "")
        chunks = storage.read(entry.storage_key or "", start, end)
        return Download(entry, start, end, chunks)

    async def create_folder(
        self,
        tenant: Tenant,
        name: str,
        parent_folder_id: str,
        drive_id: str | None,
        description: str | None,
    ) -> Entry:
        name = check_name(name)
        drive = await self.tree.drive_id(tenant, drive_id)
        await self.tree.folder(tenant, drive, parent_folder_id)
        if await self._repo.name_taken(tenant, drive, parent_folder_id, name):
            raise_name_taken(name)
        now = self._clock()
        entry = Entry(
            id=new_id("fld"),
            tenant=tenant,
            drive_id=drive,
            parent_id=parent_folder_id,
            name=name,
            kind=EntryKind.FOLDER,
            created_at=now,
            updated_at=now,
            description=description,
        )
        created = FolderCreated(entry.id, tenant, now)
        await self._repo.insert_entry(entry, (created,))
        await self._events.publish(created)
        return entry

    async def delete_folder(self, tenant: Tenant, folder_id: str) -> None:
        if folder_id == ROOT_FOLDER_ID:
            raise InvalidState("the root folder cannot be deleted")
        entry = await self.get(tenant, folder_id, EntryKind.FOLDER)
        if await self._repo.has_children(tenant, entry.id):
            raise InvalidState(f"folder {folder_id!r} is not empty")
        deleted = FolderDeleted(entry.id, tenant, self._clock())
        await self._repo.delete_entry(tenant, entry.id, (deleted,))
        await self._events.publish(deleted)

    async def upload_small(
        self,
        tenant: Tenant,
        service_id: str,
        req: NewSession,
        body: AsyncIterator[bytes],
        length: int,
        digest: Digest | None,
    ) -> Entry:
        """The single-request upload: one session of one part, finished at once."""
        self._uploads.admission.check_single_request(length)
        req = replace(req, size=length)
        session = await self._uploads.create(tenant, service_id, req, part_size=max(length, 1))
        try:
            rule = PartRule(0, self._uploads.policy)
            await self._uploads.write_range(tenant, session.id, rule, body, length, digest)
            return await self._uploads.finish(tenant, session.id, None)
        except BaseException:
            await self._uploads.abort(tenant, session.id)
            raise


def resolve_range(byte_range: tuple[int | None, int | None] | None, size: int) -> tuple[int, int]:
    """An HTTP byte range (first, last inclusive; None = open) as a half-open [start, end)."""
    if byte_range is None:
        return 0, size
    if size == 0:
        # RFC 9110 §14.1.2: no byte range of an empty representation is satisfiable.
        raise RangeNotSatisfiable("the file is empty: no byte range is satisfiable")
    first, last = byte_range
    if first is None:
        if last is None or last == 0:
            raise RangeNotSatisfiable(f"range not satisfiable for a {size}-byte file")
        return max(0, size - last), size
    if first >= size:
        raise RangeNotSatisfiable(f"range starts at {first}, past the end of a {size}-byte file")
    end = size if last is None else min(last + 1, size)
    return first, end
