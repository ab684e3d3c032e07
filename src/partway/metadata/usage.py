"""Each consumer's usage counters (open sessions, reserved bytes, stored bytes): the one place
that reads and moves them. Callers run these inside the transaction that changes the rows the
counters sum up, so the two never disagree.

Every transaction touches a consumer's counters after the session, part and entry rows it
changes: one lock order everywhere, so on PostgreSQL no two of them wait on each other in a
circle.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from ..domain.models import Tenant
from ..domain.repositories import Standing
from .schema import ranges, tenant_usage

# Bound as app/consumer: an update may not bind a parameter named like one of its columns.
_ROW = (
    tenant_usage.c.app_id == sa.bindparam("app"),
    tenant_usage.c.consumer_id == sa.bindparam("consumer"),
)
_READ = sa.select(tenant_usage).where(*_ROW)


def _add_missing(dialect: str) -> Any:
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(tenant_usage)
    return insert.values(
        app_id=sa.bindparam("app"),
        consumer_id=sa.bindparam("consumer"),
        open_sessions=0,
        reserved_bytes=0,
        stored_bytes=0,
    ).on_conflict_do_nothing()


_ADD_MISSING = {name: _add_missing(name) for name in ("postgresql", "sqlite")}


def _key(tenant: Tenant) -> dict[str, str]:
    return {"app": tenant.app_id, "consumer": tenant.consumer_id}


def _update(c: Connection, tenant: Tenant, query: Any) -> bool:
    """Run an update of the consumer's row, creating the row first if it has none yet."""
    if c.execute(query, _key(tenant)).rowcount == 1:
        return True
    c.execute(_ADD_MISSING[c.dialect.name], _key(tenant))
    return bool(c.execute(query, _key(tenant)).rowcount == 1)


def adjust(
    c: Connection, tenant: Tenant, sessions: int = 0, reserved: int = 0, stored: int = 0
) -> None:
    """Move the consumer's counters by these amounts."""
    if sessions == reserved == stored == 0:
        return
    query = (
        tenant_usage.update()
        .where(*_ROW)
        .values(
            open_sessions=tenant_usage.c.open_sessions + sessions,
            reserved_bytes=tenant_usage.c.reserved_bytes + reserved,
            stored_bytes=tenant_usage.c.stored_bytes + stored,
        )
    )
    _update(c, tenant, query)


def admit(
    c: Connection, tenant: Tenant, wanted: int, max_sessions: int | None, quota: int | None
) -> Standing | None:
    """Count one more open session reserving `wanted` bytes, if the limits leave room for it;
    else return the consumer's counts (the caller rolls back; admission words the refusal).

    The check and the count are one conditional update of the consumer's row: concurrent
    creates queue on its row lock (PostgreSQL) or on the write lock (SQLite), and each sees
    the counts the one before it left.
    """
    limits = []
    if max_sessions is not None:
        limits.append(tenant_usage.c.open_sessions < max_sessions)
    if quota is not None:
        used = tenant_usage.c.stored_bytes + tenant_usage.c.reserved_bytes
        limits.append(used + wanted <= quota)
    query = (
        tenant_usage.update()
        .where(*_ROW, *limits)
        .values(
            open_sessions=tenant_usage.c.open_sessions + 1,
            reserved_bytes=tenant_usage.c.reserved_bytes + wanted,
        )
    )
    if _update(c, tenant, query):
        return None
    row = c.execute(_READ, _key(tenant)).one()
    return Standing(int(row.open_sessions), int(row.stored_bytes + row.reserved_bytes), quota)


def usage_of(c: Connection, tenant: Tenant) -> int:
    """Bytes of stored files, plus the declared size of open sessions (or, with no declared
    size, what they hold so far)."""
    row = c.execute(_READ, _key(tenant)).first()
    return 0 if row is None else int(row.stored_bytes + row.reserved_bytes)


def reserved_by(c: Connection, session_id: str, size: int | None) -> int:
    """What an open session counts in its consumer's reserved bytes."""
    if size is not None:
        return size
    held = c.execute(
        sa.select(sa.func.coalesce(sa.func.sum(ranges.c.size), 0)).where(
            ranges.c.session_id == session_id
        )
    ).scalar_one()
    return int(held)
