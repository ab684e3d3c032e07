"""Drives and drive groups a consumer makes, next to the built-in `default` drive."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from .errors import InvalidInput, InvalidState, NotFound
from .models import DEFAULT_DRIVE_ID, Tenant, new_id
from .paging import DEFAULT_PAGE, Page, check_limit, cursor_offset, offset_cursor
from .ports import Clock

MAX_NAME = 1024


@dataclass(frozen=True)
class DriveRecord:
    """A drive as stored; the default drive is one too, made by no one and never stored."""

    id: str
    tenant: Tenant | None
    name: str
    description: str | None
    created_at: datetime | None
    updated_at: datetime | None


@dataclass(frozen=True)
class DriveGroup:
    id: str
    tenant: Tenant
    name: str
    display_name: str | None
    description: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Contents:
    """What keeps a drive from being deleted."""

    entries: int
    open_uploads: int


@dataclass(frozen=True)
class Changes:
    """Fields of an update; a field left out stays as it is."""

    name: str | None = None
    description: str | None = None
    display_name: str | None = None
    set_description: bool = False
    set_display_name: bool = False


class DriveRepository(Protocol):
    async def insert_drive(self, drive: DriveRecord) -> None: ...

    async def get_drive(self, tenant: Tenant, drive_id: str) -> DriveRecord | None: ...

    async def list_drives(self, tenant: Tenant, offset: int, limit: int) -> list[DriveRecord]: ...

    async def update_drive(self, drive: DriveRecord) -> None: ...

    async def delete_drive_if_empty(self, tenant: Tenant, drive_id: str) -> Contents | None:
        """Delete the drive unless it holds entries or open uploads (checked in the same
        transaction); returns what it holds when it was not deleted."""

    async def insert_group(self, group: DriveGroup) -> None: ...

    async def get_group(self, tenant: Tenant, group_id: str) -> DriveGroup | None: ...

    async def list_groups(self, tenant: Tenant, offset: int, limit: int) -> list[DriveGroup]: ...

    async def update_group(self, group: DriveGroup) -> None: ...

    async def delete_group(self, tenant: Tenant, group_id: str) -> bool: ...


DEFAULT = DriveRecord(DEFAULT_DRIVE_ID, None, "Default drive", None, None, None)


def check_label(value: str, what: str) -> str:
    if not value.strip() or len(value) > MAX_NAME:
        raise InvalidInput(f"{what} must be 1 to {MAX_NAME} characters, not blank")
    return value


class DriveService:
    def __init__(self, repo: DriveRepository, clock: Clock) -> None:
        self._repo = repo
        self._clock = clock

    async def get(self, tenant: Tenant, drive_id: str) -> DriveRecord:
        if drive_id == DEFAULT_DRIVE_ID:
            return DEFAULT
        drive = await self._repo.get_drive(tenant, drive_id)
        if drive is None:
            raise NotFound(f"drive {drive_id!r} not found")
        return drive

    async def list(self, tenant: Tenant, cursor: str | None, limit: int) -> Page[DriveRecord]:
        """The default drive first, then the consumer's drives, oldest first."""
        check_limit(limit)
        offset = cursor_offset(cursor)
        stored_offset = max(0, offset - 1)
        rows = await self._repo.list_drives(tenant, stored_offset, limit + 1)
        items = ([DEFAULT] if offset == 0 else []) + rows
        more = len(items) > limit
        return Page(items[:limit], cursor, offset_cursor(offset + limit) if more else None)

    async def create(self, tenant: Tenant, name: str, description: str | None) -> DriveRecord:
        now = self._clock()
        drive = DriveRecord(new_id("drv"), tenant, check_label(name, "name"), description, now, now)
        await self._repo.insert_drive(drive)
        return drive

    async def update(self, tenant: Tenant, drive_id: str, changes: Changes) -> DriveRecord:
        if drive_id == DEFAULT_DRIVE_ID:
            raise InvalidState("the default drive cannot be changed")
        drive = await self.get(tenant, drive_id)
        if changes.name is not None:
            drive = replace(drive, name=check_label(changes.name, "name"))
        if changes.set_description:
            drive = replace(drive, description=changes.description)
        drive = replace(drive, updated_at=self._clock())
        await self._repo.update_drive(drive)
        return drive

    async def delete(self, tenant: Tenant, drive_id: str) -> None:
        if drive_id == DEFAULT_DRIVE_ID:
            raise InvalidState("the default drive cannot be deleted")
        await self.get(tenant, drive_id)
        held = await self._repo.delete_drive_if_empty(tenant, drive_id)
        if held is not None:
            raise InvalidState(
                f"drive {drive_id!r} is not empty: it holds {held.entries} files or folders "
                f"and {held.open_uploads} uploads in progress; delete or move them first",
                {"entries": held.entries, "open_uploads": held.open_uploads},
            )

    async def get_group(self, tenant: Tenant, group_id: str) -> DriveGroup:
        group = await self._repo.get_group(tenant, group_id)
        if group is None:
            raise NotFound(f"drive group {group_id!r} not found")
        return group

    async def list_groups(
        self, tenant: Tenant, cursor: str | None, limit: int = DEFAULT_PAGE
    ) -> Page[DriveGroup]:
        check_limit(limit)
        offset = cursor_offset(cursor)
        rows = await self._repo.list_groups(tenant, offset, limit + 1)
        more = len(rows) > limit
        return Page(rows[:limit], cursor, offset_cursor(offset + limit) if more else None)

    async def create_group(
        self, tenant: Tenant, name: str, display_name: str | None, description: str | None
    ) -> DriveGroup:
        now = self._clock()
        group = DriveGroup(
            new_id("dgr"), tenant, check_label(name, "name"), display_name, description, now, now
        )
        await self._repo.insert_group(group)
        return group

    async def update_group(self, tenant: Tenant, group_id: str, changes: Changes) -> DriveGroup:
        group = await self.get_group(tenant, group_id)
        if changes.name is not None:
            group = replace(group, name=check_label(changes.name, "name"))
        if changes.set_description:
            group = replace(group, description=changes.description)
        if changes.set_display_name:
            group = replace(group, display_name=changes.display_name)
        group = replace(group, updated_at=self._clock())
        await self._repo.update_group(group)
        return group

    async def delete_group(self, tenant: Tenant, group_id: str) -> None:
        if not await self._repo.delete_group(tenant, group_id):
            raise NotFound(f"drive group {group_id!r} not found")
