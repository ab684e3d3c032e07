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
_HELD = sa.select(sa.func.coalesce(sa.func.sum(ranges.c.size), 0)).where(
    ranges.c.session_id == sa.bindparam("sid")
)


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


def _update(c: Connection, tenant: Tenant, query: Any, values: dict[str, Any]) -> bool:
    """Run an update of the consumer's row, creating the row first if it has none yet."""
    bound = {**_key(tenant), **values}
    if c.execute(query, bound).rowcount == 1:
        return True
    c.execute(_ADD_MISSING[c.dialect.name], _key(tenant))
    return bool(c.execute(query, bound).rowcount == 1)


# Built once: a statement built per call left a reference cycle per comparison (SQLAlchemy
# memoizes each operand's comparator on it) for the cyclic collector, whose passes stop every
# thread (cycle_wrappers.py says what those cost).
_ADJUST = (
    tenant_usage.update()
    .where(*_ROW)
    .values(
        open_sessions=tenant_usage.c.open_sessions + sa.bindparam("d_sessions"),
        reserved_bytes=tenant_usage.c.reserved_bytes + sa.bindparam("d_reserved"),
        stored_bytes=tenant_usage.c.stored_bytes + sa.bindparam("d_stored"),
    )
)


def adjust(
    c: Connection, tenant: Tenant, sessions: int = 0, reserved: int = 0, stored: int = 0
) -> None:
    """Move the consumer's counters by these amounts."""
    if sessions == reserved == stored == 0:
        return
    moves = {"d_sessions": sessions, "d_reserved": reserved, "d_stored": stored}
    _update(c, tenant, _ADJUST, moves)


def _admit_query(max_sessions: bool, quota: bool) -> Any:
    limits = []
    if max_sessions:
        limits.append(tenant_usage.c.open_sessions < sa.bindparam("max_sessions"))
    if quota:
        used = tenant_usage.c.stored_bytes + tenant_usage.c.reserved_bytes
        limits.append(used + sa.bindparam("wanted") <= sa.bindparam("quota"))
    return (
        tenant_usage.update()
        .where(*_ROW, *limits)
        .values(
            open_sessions=tenant_usage.c.open_sessions + 1,
            reserved_bytes=tenant_usage.c.reserved_bytes + sa.bindparam("wanted"),
        )
    )


_ADMIT = {(m, q): _admit_query(m, q) for m in (False, True) for q in (False, True)}


def admit(
    c: Connection, tenant: Tenant, wanted: int, max_sessions: int | None, quota: int | None
) -> Standing | None:
    """Count one more open session reserving `wanted` bytes, if the limits leave room for it;
    else return the consumer's counts (the caller rolls back; admission words the refusal).

    The check and the count are one conditional update of the consumer's row: concurrent
    creates queue on its row lock (PostgreSQL) or on the write lock (SQLite), and each sees
    the counts the one before it left.
    """
    query = _ADMIT[max_sessions is not None, quota is not None]
    values = {"wanted": wanted, "max_sessions": max_sessions, "quota": quota}
    if _update(c, tenant, query, values):
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
    return int(c.execute(_HELD, {"sid": session_id}).scalar_one())
