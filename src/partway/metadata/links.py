"""Shared links in SQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from ..domain.links import SharedLink
from ..domain.models import Entry, Tenant
from .base import SqlBase
from .catalog import shared_links
from .rows import entry_of, tenant_of
from .schema import entries


def _link_of(row: Row[Any]) -> SharedLink:
    return SharedLink(
        id=row.id,
        tenant=Tenant(row.app_id, row.consumer_id),
        target_id=row.target_id,
        salt=row.salt,
        created_at=row.created_at,
        updated_at=row.updated_at,
        scope=row.scope,
        password_hash=row.password_hash,
        expires_at=row.expires_at,
        max_downloads=row.max_downloads,
        downloads=row.downloads,
    )


def _values(link: SharedLink) -> dict[str, Any]:
    return {
        "target_id": link.target_id,
        "scope": link.scope,
        "password_hash": link.password_hash,
        "expires_at": link.expires_at,
        "max_downloads": link.max_downloads,
        "updated_at": link.updated_at,
    }


def live_links(now: datetime) -> sa.ColumnElement[bool]:
    """Links that still open: not expired, downloads left."""
    return sa.and_(
        sa.or_(shared_links.c.expires_at.is_(None), shared_links.c.expires_at > now),
        sa.or_(
            shared_links.c.max_downloads.is_(None),
            shared_links.c.downloads < shared_links.c.max_downloads,
        ),
    )


class LinkQueries(SqlBase):
    async def insert_link(self, link: SharedLink) -> None:
        values = {
            "id": link.id,
            "app_id": link.tenant.app_id,
            "consumer_id": link.tenant.consumer_id,
            "salt": link.salt,
            "created_at": link.created_at,
            "downloads": link.downloads,
            **_values(link),
        }
        await self._write(lambda c: c.execute(shared_links.insert().values(**values)))

    async def get_link(self, tenant: Tenant, link_id: str) -> SharedLink | None:
        query = sa.select(shared_links).where(
            shared_links.c.id == link_id, tenant_of(shared_links, tenant)
        )
        return await self._read(lambda c: self._one(c, query), small=True)

    async def link_by_id(self, link_id: str) -> SharedLink | None:
        query = sa.select(shared_links).where(shared_links.c.id == link_id)
        return await self._read(lambda c: self._one(c, query), small=True)

    @staticmethod
    def _one(c: Connection, query: sa.Select[Any]) -> SharedLink | None:
        row = c.execute(query).first()
        return None if row is None else _link_of(row)

    async def list_links(self, tenant: Tenant, offset: int, limit: int) -> list[SharedLink]:
        query = (
            sa.select(shared_links)
            .where(tenant_of(shared_links, tenant))
            .order_by(shared_links.c.created_at, shared_links.c.id)
            .offset(offset)
            .limit(limit)
        )
        return await self._read(lambda c: [_link_of(r) for r in c.execute(query)])

    async def update_link(self, link: SharedLink) -> None:
        query = (
            shared_links.update()
            .where(shared_links.c.id == link.id, tenant_of(shared_links, link.tenant))
            .values(**_values(link))
        )
        await self._write(lambda c: c.execute(query))

    async def delete_link(self, tenant: Tenant, link_id: str) -> bool:
        query = shared_links.delete().where(
            shared_links.c.id == link_id, tenant_of(shared_links, tenant)
        )
        return await self._write(lambda c: c.execute(query).rowcount == 1)

    async def count_download(self, link_id: str, now: datetime) -> bool:
        # One conditional UPDATE: two last downloads racing for a limit's final slot cannot
        # both win.
        query = (
            shared_links.update()
            .where(shared_links.c.id == link_id, live_links(now))
            .values(downloads=shared_links.c.downloads + 1)
        )
        return await self._write(lambda c: c.execute(query).rowcount == 1, small=True)

    async def entry_by_id(self, entry_id: str) -> Entry | None:
        """Any tenant's entry: a signed URL names its tenant through its signature."""
        query = sa.select(entries).where(entries.c.id == entry_id)

        def work(c: Connection) -> Entry | None:
            row = c.execute(query).first()
            return None if row is None else entry_of(row)

        return await self._read(work, small=True)
