"""Files and folders in SQL."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..domain.events import Event
from ..domain.models import Entry, EntryKind, Tenant
from . import usage
from .base import SqlBase
from .drive_hold import hold_drive
from .outbox import write_outbox
from .rows import (
    ACTIVE,
    INSERT_ENTRY,
    NAME_IN_UPLOADS,
    entry_of,
    entry_values,
    name_taken_error,
    tenant_of,
)
from .schema import entries, sessions

# A create's name check, built once (as sessions.py's per-range statements are): building the
# expressions and their cache keys at every create cost as much as the two lookups.
_NAME_IN_ENTRIES = sa.select(entries.c.id).where(
    entries.c.app_id == sa.bindparam("app_id"),
    entries.c.consumer_id == sa.bindparam("consumer_id"),
    entries.c.drive_id == sa.bindparam("drive_id"),
    entries.c.parent_id == sa.bindparam("parent_id"),
    entries.c.name == sa.bindparam("name"),
)
_NAME_IN_UPLOADS = sa.select(sessions.c.id).where(*NAME_IN_UPLOADS)


class EntryQueries(SqlBase):
    async def name_taken(self, tenant: Tenant, drive_id: str, parent_id: str, name: str) -> bool:
        key = {
            "app_id": tenant.app_id,
            "consumer_id": tenant.consumer_id,
            "drive_id": drive_id,
            "parent_id": parent_id,
            "name": name,
        }

        def work(c: Connection) -> bool:
            if c.execute(_NAME_IN_ENTRIES, key).first() is not None:
                return True
            return c.execute(_NAME_IN_UPLOADS, key).first() is not None

        return await self._read(work, small=True)  # two index lookups

    async def get_entry(self, tenant: Tenant, entry_id: str) -> Entry | None:
        query = sa.select(entries).where(entries.c.id == entry_id, tenant_of(entries, tenant))

        def work(c: Connection) -> Entry | None:
            row = c.execute(query).first()
            return None if row is None else entry_of(row)

        return await self._read(work, small=True)

    async def insert_entry(self, entry: Entry, outbox: Sequence[Event] = ()) -> None:
        def work(c: Connection) -> None:
            hold_drive(c, entry.tenant, entry.drive_id)
            c.execute(INSERT_ENTRY, entry_values(entry))
            if entry.kind is EntryKind.FILE:
                usage.adjust(c, entry.tenant, stored=entry.size or 0)
            write_outbox(c, outbox)

        try:
            await self._write(work)
        except sa.exc.IntegrityError:
            raise name_taken_error(entry.name) from None

    async def update_entry(self, entry: Entry, outbox: Sequence[Event] = ()) -> None:
        values = entry_values(entry)
        # A file's size is fixed when it is made; its consumer's stored bytes count it so.
        del values["id"], values["size"]
        query = entries.update().where(entries.c.id == entry.id).values(**values)

        def work(c: Connection) -> None:
            c.execute(query)
            write_outbox(c, outbox)

        try:
            await self._write(work)
        except sa.exc.IntegrityError:
            raise name_taken_error(entry.name) from None

    async def delete_entry(
        self, tenant: Tenant, entry_id: str, outbox: Sequence[Event] = ()
    ) -> None:
        query = (
            entries.delete()
            .where(entries.c.id == entry_id, tenant_of(entries, tenant))
            .returning(entries.c.kind, entries.c.size)
        )

        def work(c: Connection) -> None:
            gone = c.execute(query).first()
            if gone is not None and gone.kind == EntryKind.FILE.value:
                usage.adjust(c, tenant, stored=-(gone.size or 0))
            if gone is not None:
                write_outbox(c, outbox)

        await self._write(work)

    async def list_entries(
        self,
        tenant: Tenant,
        drive_id: str,
        parent_id: str | None,
        kind: EntryKind | None,
        order_by: str,
        descending: bool,
        offset: int,
        limit: int,
    ) -> list[Entry]:
        column = entries.c[order_by]
        query = sa.select(entries).where(tenant_of(entries, tenant), entries.c.drive_id == drive_id)
        if parent_id is not None:
            query = query.where(entries.c.parent_id == parent_id)
        if kind is not None:
            query = query.where(entries.c.kind == kind.value)
        order = [column.desc(), entries.c.id.desc()] if descending else [column, entries.c.id]
        query = query.order_by(*order).offset(offset).limit(limit)
        return await self._read(lambda c: [entry_of(r) for r in c.execute(query)])

    async def has_children(self, tenant: Tenant, folder_id: str) -> bool:
        def work(c: Connection) -> bool:
            child = c.execute(
                sa.select(entries.c.id)
                .where(tenant_of(entries, tenant), entries.c.parent_id == folder_id)
                .limit(1)
            ).first()
            upload = c.execute(
                sa.select(sessions.c.id)
                .where(
                    tenant_of(sessions, tenant),
                    sessions.c.folder_id == folder_id,
                    sessions.c.state.in_(ACTIVE),
                )
                .limit(1)
            ).first()
            return child is not None or upload is not None

        return await self._read(work)
