"""Folder copies in SQL: the hidden rows of a copy being built, its heartbeat, and the one
transaction that publishes it (domain/copies.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..domain.copies import COPY_PREFIX, PendingCopy, Publish
from ..domain.errors import NotFound, QuotaExceeded
from ..domain.events import Event
from ..domain.models import DEFAULT_DRIVE_ID, ROOT_FOLDER_ID, Entry, EntryKind, Tenant
from . import usage
from .accounts import quota_of
from .base import SqlBase
from .catalog import drives
from .copy_table import folder_copies
from .outbox import write_outbox
from .rows import HOLDS_NAME, entry_of, entry_values, name_taken_error, tenant_of
from .schema import entries, sessions


def visible(table: sa.Table) -> sa.ColumnElement[bool]:
    """Entries not in a copy's hidden drive (for queries that span every drive)."""
    return sa.not_(table.c.drive_id.startswith(COPY_PREFIX + "_", autoescape=True))


def _pending_of(row: Any) -> PendingCopy:
    return PendingCopy(
        row.id, Tenant(row.app_id, row.consumer_id), row.reserved_bytes, row.heartbeat_at
    )


class CopyQueries(SqlBase):
    async def subtree(self, tenant: Tenant, folder_id: str, limit: int) -> list[Entry]:
        def work(c: Connection) -> list[Entry]:
            top = c.execute(
                sa.select(entries.c.drive_id).where(
                    entries.c.id == folder_id, tenant_of(entries, tenant)
                )
            ).scalar_one_or_none()
            if top is None:
                return []
            here = sa.and_(tenant_of(entries, tenant), entries.c.drive_id == top)
            tree = sa.select(sa.literal(folder_id).label("id"), sa.literal(0).label("depth")).cte(
                "tree", recursive=True
            )
            tree = tree.union_all(
                sa.select(entries.c.id, tree.c.depth + 1).where(
                    here, entries.c.kind == EntryKind.FOLDER.value, entries.c.parent_id == tree.c.id
                )
            )
            # Ordered by the parent's depth: every folder comes before what it holds.
            query = (
                sa.select(entries)
                .join(tree, entries.c.parent_id == tree.c.id)
                .where(here)
                .order_by(tree.c.depth, entries.c.id)
                .limit(limit)
            )
            return [entry_of(r) for r in c.execute(query)]

        return await self._read(work)

    async def begin_copy(
        self, pending: PendingCopy, rows: list[Entry], default_quota: int | None
    ) -> None:
        def work(c: Connection) -> None:
            tenant = pending.tenant
            c.execute(
                folder_copies.insert().values(
                    id=pending.id,
                    app_id=tenant.app_id,
                    consumer_id=tenant.consumer_id,
                    reserved_bytes=pending.reserved_bytes,
                    created_at=pending.heartbeat_at,
                    heartbeat_at=pending.heartbeat_at,
                )
            )
            c.execute(entries.insert(), [entry_values(r) for r in rows])
            # Counted, then checked: the count holds the consumer's row (PostgreSQL) or the
            # write lock (SQLite), so two copies cannot both squeeze under the quota.
            usage.adjust(c, tenant, stored=pending.reserved_bytes)
            quota = quota_of(c, tenant, default_quota)
            used = usage.usage_of(c, tenant)
            if pending.reserved_bytes and quota is not None and used > quota:
                raise QuotaExceeded(
                    f"storage quota exceeded: the copy needs {pending.reserved_bytes} bytes and "
                    f"only {max(0, quota - used + pending.reserved_bytes)} of {quota} are free"
                )

        await self._write(work)

    async def beat(self, copy_id: str, now: datetime) -> bool:
        query = folder_copies.update().where(folder_copies.c.id == copy_id).values(heartbeat_at=now)
        return bool(await self._write(lambda c: c.execute(query).rowcount == 1))

    async def publish_copy(self, publish: Publish, outbox: Sequence[Event] = ()) -> None:
        def work(c: Connection) -> None:
            claimed = c.execute(
                folder_copies.delete().where(folder_copies.c.id == publish.copy_id)
            ).rowcount
            if claimed != 1:
                raise NotFound("the copy was abandoned as stale; try again")
            _check_target(c, publish)
            c.execute(
                entries.update()
                .where(tenant_of(entries, publish.tenant), entries.c.drive_id == publish.copy_id)
                .values(drive_id=publish.drive_id)
            )
            # Last: this is where a name clash in the parent meets the unique constraint.
            c.execute(
                entries.update()
                .where(entries.c.id == publish.top_id)
                .values(parent_id=publish.parent_id)
            )
            write_outbox(c, outbox)

        try:
            await self._write(work)
        except sa.exc.IntegrityError:
            raise name_taken_error(publish.name) from None

    async def stale_copies(self, before: datetime, limit: int) -> list[PendingCopy]:
        query = (
            sa.select(folder_copies)
            .where(folder_copies.c.heartbeat_at < before)
            .order_by(folder_copies.c.heartbeat_at)
            .limit(limit)
        )
        return await self._read(lambda c: [_pending_of(r) for r in c.execute(query)])

    async def copy_objects(self, copy_id: str) -> list[tuple[str, str]]:
        query = sa.select(entries.c.service_id, entries.c.storage_key).where(
            entries.c.drive_id == copy_id, entries.c.storage_key.is_not(None)
        )
        return await self._read(
            lambda c: [(r.service_id or "", r.storage_key) for r in c.execute(query)]
        )

    async def drop_copy(self, copy_id: str) -> bool:
        def work(c: Connection) -> bool:
            gone = c.execute(
                folder_copies.delete()
                .where(folder_copies.c.id == copy_id)
                .returning(
                    folder_copies.c.app_id,
                    folder_copies.c.consumer_id,
                    folder_copies.c.reserved_bytes,
                )
            ).first()
            if gone is None:
                return False
            tenant = Tenant(gone.app_id, gone.consumer_id)
            c.execute(
                entries.delete().where(tenant_of(entries, tenant), entries.c.drive_id == copy_id)
            )
            usage.adjust(c, tenant, stored=-gone.reserved_bytes)
            return True

        return bool(await self._write(work))


def _check_target(c: Connection, publish: Publish) -> None:
    """The drive and parent folder still exist, and no upload in progress holds the name."""
    tenant = publish.tenant
    if publish.drive_id != DEFAULT_DRIVE_ID:
        drive = c.execute(
            sa.select(drives.c.id).where(drives.c.id == publish.drive_id, tenant_of(drives, tenant))
        ).first()
        if drive is None:
            raise NotFound(f"drive {publish.drive_id!r} not found")
    if publish.parent_id != ROOT_FOLDER_ID:
        parent = c.execute(
            sa.select(entries.c.id).where(
                entries.c.id == publish.parent_id,
                tenant_of(entries, tenant),
                entries.c.drive_id == publish.drive_id,
                entries.c.kind == EntryKind.FOLDER.value,
            )
        ).first()
        if parent is None:
            raise NotFound(f"folder {publish.parent_id!r} not found")
    upload = c.execute(
        sa.select(sessions.c.id).where(
            tenant_of(sessions, tenant),
            sessions.c.drive_id == publish.drive_id,
            sessions.c.folder_id == publish.parent_id,
            sessions.c.name == publish.name,
            HOLDS_NAME,
        )
    ).first()
    if upload is not None:
        raise name_taken_error(publish.name)
