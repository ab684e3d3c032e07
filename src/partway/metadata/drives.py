"""Consumer-made drives and drive groups in SQL."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from ..domain.drives import Contents, DriveGroup, DriveRecord
from ..domain.models import Tenant
from .base import SqlBase
from .catalog import drive_groups, drives
from .drive_hold import lock_drive
from .rows import ACTIVE, tenant_of
from .schema import entries, sessions


def _drive_of(row: Row[Any]) -> DriveRecord:
    tenant = Tenant(row.app_id, row.consumer_id)
    return DriveRecord(row.id, tenant, row.name, row.description, row.created_at, row.updated_at)


def _group_of(row: Row[Any]) -> DriveGroup:
    tenant = Tenant(row.app_id, row.consumer_id)
    return DriveGroup(
        row.id,
        tenant,
        row.name,
        row.display_name,
        row.description,
        row.created_at,
        row.updated_at,
    )


def _owner(tenant: Tenant | None) -> dict[str, str]:
    assert tenant is not None, "only stored drives are written"
    return {"app_id": tenant.app_id, "consumer_id": tenant.consumer_id}


class DriveQueries(SqlBase):
    async def drive_exists(self, tenant: Tenant, drive_id: str) -> bool:
        return await self.get_drive(tenant, drive_id) is not None

    async def insert_drive(self, drive: DriveRecord) -> None:
        values = {
            "id": drive.id,
            **_owner(drive.tenant),
            "name": drive.name,
            "description": drive.description,
            "created_at": drive.created_at,
            "updated_at": drive.updated_at,
        }
        await self._write(lambda c: c.execute(drives.insert().values(**values)))

    async def get_drive(self, tenant: Tenant, drive_id: str) -> DriveRecord | None:
        query = sa.select(drives).where(drives.c.id == drive_id, tenant_of(drives, tenant))

        def work(c: Connection) -> DriveRecord | None:
            row = c.execute(query).first()
            return None if row is None else _drive_of(row)

        return await self._read(work, small=True)

    async def list_drives(self, tenant: Tenant, offset: int, limit: int) -> list[DriveRecord]:
        query = (
            sa.select(drives)
            .where(tenant_of(drives, tenant))
            .order_by(drives.c.created_at, drives.c.id)
            .offset(offset)
            .limit(limit)
        )
        return await self._read(lambda c: [_drive_of(r) for r in c.execute(query)])

    async def update_drive(self, drive: DriveRecord) -> None:
        assert drive.tenant is not None
        query = (
            drives.update()
            .where(drives.c.id == drive.id, tenant_of(drives, drive.tenant))
            .values(name=drive.name, description=drive.description, updated_at=drive.updated_at)
        )
        await self._write(lambda c: c.execute(query))

    async def delete_drive_if_empty(self, tenant: Tenant, drive_id: str) -> Contents | None:
        def work(c: Connection) -> Contents | None:
            lock_drive(c, tenant, drive_id)
            held = c.execute(
                sa.select(sa.func.count())
                .select_from(entries)
                .where(tenant_of(entries, tenant), entries.c.drive_id == drive_id)
            ).scalar_one()
            uploads = c.execute(
                sa.select(sa.func.count())
                .select_from(sessions)
                .where(
                    tenant_of(sessions, tenant),
                    sessions.c.drive_id == drive_id,
                    sessions.c.state.in_(ACTIVE),
                )
            ).scalar_one()
            if held or uploads:
                return Contents(int(held), int(uploads))
            c.execute(drives.delete().where(drives.c.id == drive_id, tenant_of(drives, tenant)))
            return None

        return await self._write(work)

    async def insert_group(self, group: DriveGroup) -> None:
        values = {
            "id": group.id,
            **_owner(group.tenant),
            "name": group.name,
            "display_name": group.display_name,
            "description": group.description,
            "created_at": group.created_at,
            "updated_at": group.updated_at,
        }
        await self._write(lambda c: c.execute(drive_groups.insert().values(**values)))

    async def get_group(self, tenant: Tenant, group_id: str) -> DriveGroup | None:
        query = sa.select(drive_groups).where(
            drive_groups.c.id == group_id, tenant_of(drive_groups, tenant)
        )

        def work(c: Connection) -> DriveGroup | None:
            row = c.execute(query).first()
            return None if row is None else _group_of(row)

        return await self._read(work, small=True)

    async def list_groups(self, tenant: Tenant, offset: int, limit: int) -> list[DriveGroup]:
        query = (
            sa.select(drive_groups)
            .where(tenant_of(drive_groups, tenant))
            .order_by(drive_groups.c.created_at, drive_groups.c.id)
            .offset(offset)
            .limit(limit)
        )
        return await self._read(lambda c: [_group_of(r) for r in c.execute(query)])

    async def update_group(self, group: DriveGroup) -> None:
        query = (
            drive_groups.update()
            .where(drive_groups.c.id == group.id, tenant_of(drive_groups, group.tenant))
            .values(
                name=group.name,
                display_name=group.display_name,
                description=group.description,
                updated_at=group.updated_at,
            )
        )
        await self._write(lambda c: c.execute(query))

    async def delete_group(self, tenant: Tenant, group_id: str) -> bool:
        query = drive_groups.delete().where(
            drive_groups.c.id == group_id, tenant_of(drive_groups, tenant)
        )
        return await self._write(lambda c: c.execute(query).rowcount == 1)
