"""Drives and folders: resolving where an entry lives and the chain of folders above it."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from .errors import InvalidInput, NotFound
from .models import DEFAULT_DRIVE_ID, ROOT_FOLDER_ID, Drive, Entry, EntryKind, Tenant
from .repositories import EntryLookup

DEFAULT_DRIVE = Drive(id=DEFAULT_DRIVE_ID, name="Default drive", description=None)
MAX_DEPTH = 256


@runtime_checkable
class DriveLookup(Protocol):
    """A store that keeps consumer-made drives (domain/drives.py) answers this."""

    async def drive_exists(self, tenant: Tenant, drive_id: str) -> bool: ...


class Tree:
    def __init__(self, repo: EntryLookup) -> None:
        self._repo = repo
        # A store without consumer-made drives (a fake) has the default drive only.
        self._drives = repo if isinstance(repo, DriveLookup) else None

    async def drive_id(self, tenant: Tenant, requested: str | None) -> str:
        """The drive an entry or upload goes to: `default` unless another is named."""
        if requested is None or requested == DEFAULT_DRIVE_ID:
            return DEFAULT_DRIVE_ID
        if self._drives is not None and await self._drives.drive_exists(tenant, requested):
            return requested
        raise NotFound(f"drive {requested!r} not found")

    async def folder(self, tenant: Tenant, drive_id: str, folder_id: str) -> Entry | None:
        """The folder, or None for the root; NotFound when it does not exist."""
        if folder_id == ROOT_FOLDER_ID:
            return None
        entry = await self._repo.get_entry(tenant, folder_id)
        if entry is None or entry.kind is not EntryKind.FOLDER or entry.drive_id != drive_id:
            raise NotFound(f"folder {folder_id!r} not found")
        return entry

    async def ancestors(self, tenant: Tenant, entry: Entry) -> list[Entry]:
        """Folders from the top level down to the entry's parent (the root itself excluded)."""
        chain: list[Entry] = []
        parent_id = entry.parent_id
        while parent_id != ROOT_FOLDER_ID and len(chain) < MAX_DEPTH:
            parent = await self._repo.get_entry(tenant, parent_id)
            if parent is None:
                break
            chain.append(parent)
            parent_id = parent.parent_id
        chain.reverse()
        return chain

    async def check_move(self, tenant: Tenant, entry: Entry, new_parent_id: str) -> None:
        """A folder may not move into itself or below itself."""
        parent = await self.folder(tenant, entry.drive_id, new_parent_id)
        if entry.kind is not EntryKind.FOLDER or parent is None:
            return
        above = [f.id for f in await self.ancestors(tenant, parent)] + [parent.id]
        if entry.id in above:
            raise InvalidInput("a folder cannot be moved into itself or one of its subfolders")
