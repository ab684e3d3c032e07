"""API keys, quotas and usage in SQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..domain.models import Tenant
from .base import SqlBase
from .schema import api_keys, quotas
from .usage import usage_of

# Read by every create: built once (see metadata/sessions.py on why).
_QUOTA = sa.select(quotas.c.max_bytes).where(
    quotas.c.app_id == sa.bindparam("app"), quotas.c.consumer_id == sa.bindparam("consumer")
)


def quota_of(c: Connection, tenant: Tenant, default: int | None) -> int | None:
    key = {"app": tenant.app_id, "consumer": tenant.consumer_id}
    row = c.execute(_QUOTA, key).scalar_one_or_none()
    return default if row is None else int(row)


@dataclass(frozen=True)
class KeyRecord:
    """An API key as `partway keys list` shows it: never the key itself, only its hash's row."""

    id: str
    app_id: str
    created_at: datetime
    revoked_at: datetime | None


class AccountQueries(SqlBase):
    async def add_key(self, key_id: str, app_id: str, key_hash: str, now: datetime) -> None:
        values = {"id": key_id, "app_id": app_id, "key_hash": key_hash, "created_at": now}
        await self._write(lambda c: c.execute(api_keys.insert().values(**values)))

    async def app_for_key(self, key_hash: str) -> str | None:
        query = sa.select(api_keys.c.app_id).where(
            api_keys.c.key_hash == key_hash, api_keys.c.revoked_at.is_(None)
        )
        return await self._read(lambda c: c.execute(query).scalar_one_or_none(), small=True)

    async def list_keys(self, app_id: str | None = None) -> list[KeyRecord]:
        query = sa.select(
            api_keys.c.id, api_keys.c.app_id, api_keys.c.created_at, api_keys.c.revoked_at
        ).order_by(api_keys.c.created_at, api_keys.c.id)
        if app_id is not None:
            query = query.where(api_keys.c.app_id == app_id)
        rows = await self._read(lambda c: c.execute(query).all())
        return [KeyRecord(*row) for row in rows]

    async def key_id_for(self, key_hash: str) -> str | None:
        query = sa.select(api_keys.c.id).where(api_keys.c.key_hash == key_hash)
        return await self._read(lambda c: c.execute(query).scalar_one_or_none())

    async def revoke_key(self, key_id: str, now: datetime) -> bool:
        """Mark a key revoked; False if no such key is live (unknown or revoked already)."""
        update = (
            api_keys.update()
            .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        count: int = await self._write(lambda c: c.execute(update).rowcount)
        return count == 1

    async def set_quota(self, tenant: Tenant, max_bytes: int | None) -> None:
        def work(c: Connection) -> None:
            c.execute(
                quotas.delete().where(
                    quotas.c.app_id == tenant.app_id, quotas.c.consumer_id == tenant.consumer_id
                )
            )
            if max_bytes is not None:
                c.execute(
                    quotas.insert().values(
                        app_id=tenant.app_id, consumer_id=tenant.consumer_id, max_bytes=max_bytes
                    )
                )

        await self._write(work)

    async def quota(self, tenant: Tenant, default: int | None) -> int | None:
        return await self._read(lambda c: quota_of(c, tenant, default))

    async def usage(self, tenant: Tenant) -> int:
        return await self._read(lambda c: usage_of(c, tenant))
