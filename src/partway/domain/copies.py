"""Folder copy: a deep copy of a folder tree that appears all at once or not at all.

The copy is built invisibly: its rows go in under a hidden drive named by the copy's id (no
listing, search or drive shows it, and its ids are known to nobody), its bytes are copied as
cheaply as the store allows, then one transaction moves the rows into the target drive and
folder. A copy whose process died is found by its stale heartbeat and dropped: rows, usage and
bytes (see `reclaim_stale`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from .errors import InvalidInput, NotFound
from .events import (
    CopiesReclaimed,
    Event,
    EventSink,
    FileCreated,
    FolderCopied,
    FolderCreated,
    NoEvents,
)
from .models import ROOT_FOLDER_ID, ByteRange, Entry, EntryKind, Placement, Tenant, new_id
from .names import check_name
from .ports import Clock, Storage
from .repositories import EntryRepository
from .tree import Tree
from .uploads import raise_name_taken

COPY_PREFIX = "cpy"
# Bytes of this many files are copied at once: enough to overlap store round trips (S3), few
# enough not to flood two cores with local copies.
PARALLEL_COPIES = 4
# A copy in progress stamps its row this often; one not stamped for a few beats is dead.
HEARTBEAT = timedelta(seconds=2)
MISSED_BEATS = 5
# One request copies at most this many entries (each is a row in one transaction).
MAX_COPY_ENTRIES = 100_000


@dataclass(frozen=True)
class PendingCopy:
    """A copy being built: its rows sit in the hidden drive `id` until published."""

    id: str
    tenant: Tenant
    reserved_bytes: int
    heartbeat_at: datetime


@dataclass(frozen=True)
class Publish:
    """Where the finished copy goes: its top folder `top_id`, named `name`, under `parent_id`."""

    copy_id: str
    tenant: Tenant
    drive_id: str
    parent_id: str
    top_id: str
    name: str


class CopyRepository(Protocol):
    async def subtree(self, tenant: Tenant, folder_id: str, limit: int) -> list[Entry]:
        """Every entry below the folder (not the folder itself), parents before children;
        at most `limit`."""

    async def begin_copy(
        self, pending: PendingCopy, rows: list[Entry], default_quota: int | None
    ) -> None:
        """Record the copy, count its bytes as stored (QuotaExceeded past the quota) and insert
        its hidden rows, in one transaction."""

    async def beat(self, copy_id: str, now: datetime) -> bool:
        """Stamp the copy's heartbeat; False if it was reclaimed."""

    async def publish_copy(self, publish: Publish, outbox: Sequence[Event] = ()) -> None:
        """Make the copy visible in one transaction. NameTaken on a clash in the parent,
        NotFound if the parent or drive went away or the copy was reclaimed."""

    async def stale_copies(self, before: datetime, limit: int) -> list[PendingCopy]: ...

    async def copy_objects(self, copy_id: str) -> list[tuple[str, str]]:
        """(service id, storage key) of the copy's hidden files."""

    async def drop_copy(self, copy_id: str) -> bool:
        """Delete the hidden rows and the record, and uncount the bytes; True for the one caller
        that did it."""


@runtime_checkable
class ObjectCopier(Protocol):
    """A store that copies a completed object itself (local: reflink or copy_file_range; S3:
    CopyObject), without the bytes passing through partway."""

    async def copy_object(self, source_key: str, target_key: str, size: int) -> None: ...


class Source(Protocol):
    def __call__(self, service_id: str) -> Storage: ...


@dataclass(frozen=True)
class CopyRequest:
    folder_id: str
    parent_folder_id: str
    name: str | None = None


class FolderCopier:
    def __init__(
        self,
        repo: CopyRepository,
        entries: EntryRepository,
        tree: Tree,
        storage: Source,
        clock: Clock,
        default_quota: int | None,
        events: EventSink | None = None,
    ) -> None:
        self._repo = repo
        self._entries = entries
        self._tree = tree
        self._storage = storage
        self._clock = clock
        self._default_quota = default_quota
        self._events = events or NoEvents()

    async def copy(self, tenant: Tenant, request: CopyRequest) -> Entry:
        source = await self._entries.get_entry(tenant, request.folder_id)
        if source is None or source.kind is not EntryKind.FOLDER:
            raise NotFound(f"folder {request.folder_id!r} not found")
        drive_id, parent_id = await self._target(tenant, source, request.parent_folder_id)
        name = check_name(request.name) if request.name is not None else source.name
        if await self._entries.name_taken(tenant, drive_id, parent_id, name):
            raise_name_taken(name)
        below = await self._repo.subtree(tenant, source.id, MAX_COPY_ENTRIES + 1)
        if len(below) > MAX_COPY_ENTRIES:
            raise InvalidInput(f"a copy may hold at most {MAX_COPY_ENTRIES} files and folders")
        pending = PendingCopy(new_id(COPY_PREFIX), tenant, 0, self._clock())
        top, rows, pairs = self._plan(pending.id, source, below, name)
        pending = replace(pending, reserved_bytes=sum(r.size or 0 for r in rows))
        await self._repo.begin_copy(pending, rows, self._default_quota)
        try:
            async with self._beating(pending.id):
                await self._copy_bytes(pairs)
            where = Publish(pending.id, tenant, drive_id, parent_id, top.id, name)
            await self._repo.publish_copy(where, created_events(rows, tenant, self._clock()))
        except BaseException:
            # Shielded: a cancelled request still drops what it made.
            await asyncio.shield(self._drop(pending.id))
            raise
        await self._events.publish(FolderCopied(entries=len(rows), bytes=pending.reserved_bytes))
        return replace(top, drive_id=drive_id, parent_id=parent_id)

    async def _target(self, tenant: Tenant, source: Entry, parent_id: str) -> tuple[str, str]:
        """(drive, parent folder) of the copy: the parent's drive, or the source's for root."""
        if parent_id == ROOT_FOLDER_ID:
            return source.drive_id, parent_id
        parent = await self._entries.get_entry(tenant, parent_id)
        if parent is None or parent.kind is not EntryKind.FOLDER:
            raise NotFound(f"folder {parent_id!r} not found")
        above = {f.id for f in await self._tree.ancestors(tenant, parent)} | {parent.id}
        if source.id in above:
            raise InvalidInput("a folder cannot be copied into itself or one of its subfolders")
        return parent.drive_id, parent_id

    def _plan(
        self, copy_id: str, source: Entry, below: list[Entry], name: str
    ) -> tuple[Entry, list[Entry], list[tuple[Entry, Entry]]]:
        """The hidden rows: new ids, new storage keys, parents remapped; the top folder's
        parent is the copy's id until it is published. Also (source, copy) of every file."""
        now = self._clock()
        ids = {source.id: new_id("fld")}

        def hidden(entry: Entry, parent_id: str) -> Entry:
            new = ids[entry.id]
            return replace(
                entry, id=new, drive_id=copy_id, parent_id=parent_id, created_at=now, updated_at=now
            )

        top = replace(hidden(source, copy_id), name=name)
        rows, pairs = [top], []
        for entry in below:  # parents come before their children
            ids[entry.id] = new_id("fld" if entry.kind is EntryKind.FOLDER else "file")
            row = hidden(entry, ids[entry.parent_id])
            if entry.kind is EntryKind.FILE:
                row = replace(row, storage_key=new_id("obj"))
                pairs.append((entry, row))
            rows.append(row)
        return top, rows, pairs

    async def _copy_bytes(self, pairs: list[tuple[Entry, Entry]]) -> None:
        gate = asyncio.Semaphore(PARALLEL_COPIES)

        async def one(source: Entry, target: Entry) -> None:
            async with gate:
                await copy_object(
                    self._storage(source.service_id or ""),
                    source.storage_key or "",
                    target.storage_key or "",
                    source.size or 0,
                )

        async with asyncio.TaskGroup() as group:
            for source, target in pairs:
                group.create_task(one(source, target))

    @contextlib.asynccontextmanager
    async def _beating(self, copy_id: str) -> AsyncIterator[None]:
        """Stamp the heartbeat while the body runs; if the copy is reclaimed meanwhile (this
        process looked dead), the body is cancelled."""
        body = asyncio.current_task()
        assert body is not None
        lost = False

        async def beat() -> None:
            nonlocal lost
            while True:
                await asyncio.sleep(HEARTBEAT.total_seconds())
                if not await self._repo.beat(copy_id, self._clock()):
                    lost = True
                    body.cancel()
                    return

        beating = asyncio.create_task(beat())
        try:
            yield
        except asyncio.CancelledError:
            if lost:
                body.uncancel()
                raise NotFound("the copy was abandoned as stale; try again") from None
            raise
        finally:
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating

    async def _drop(self, copy_id: str) -> None:
        """Uncount and delete the rows first: bytes left behind by a crash here are then
        unreferenced, and the orphan sweep takes them."""
        objects = await self._repo.copy_objects(copy_id)
        if not await self._repo.drop_copy(copy_id):
            return
        for service_id, key in objects:
            with contextlib.suppress(Exception):
                await self._storage(service_id).delete(key)

    async def reclaim_stale(self) -> int:
        """Drop copies whose process stopped beating (crashed mid-copy); returns how many."""
        before = self._clock() - HEARTBEAT * MISSED_BEATS
        dropped = 0
        for pending in await self._repo.stale_copies(before, 100):
            await self._drop(pending.id)
            dropped += 1
        if dropped:
            await self._events.publish(CopiesReclaimed(copies=dropped))
        return dropped


async def copy_object(storage: Storage, source_key: str, target_key: str, size: int) -> None:
    """The store's own copy if it has one, else the bytes streamed through as one part."""
    if isinstance(storage, ObjectCopier):
        await storage.copy_object(source_key, target_key, size)
        return
    handle = await storage.begin(target_key)
    at = Placement(target_key, handle, max(size, 1))  # one range from 0: on any store's grid
    written = await storage.write_range(at, 0, storage.read(source_key, 0, size), size, size)
    await storage.complete(at, [ByteRange(0, size, tag=written.tag)], size)


def created_events(rows: Sequence[Entry], tenant: Tenant, at: datetime) -> list[Event]:
    """file.created and folder.created for each entry a copy made, written with its publish."""
    return [
        FileCreated(r.id, tenant, r.size, at)
        if r.kind is EntryKind.FILE
        else FolderCreated(r.id, tenant, at)
        for r in rows
    ]
