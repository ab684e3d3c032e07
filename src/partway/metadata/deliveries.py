"""The webhook delivery queue in SQL.

Each endpoint has a cursor over the outbox; `enqueue` turns the outbox rows after it into
deliveries under a lock of that cursor row, so several servers never make one twice. A claim
takes due deliveries whose entity has no earlier one pending (order per entity) and leases them:
`FOR UPDATE SKIP LOCKED` on PostgreSQL, SQLite's single write transaction elsewhere. A server
that dies mid-delivery leaves a lease that runs out, and another server tries again
(at least once). A worker settles the tries that ended and claims the next ones in one write
(`turn`): on SQLite each write is a commit waiting for the disk, so one per delivery (as first
built) capped delivery at a few per second under load.

All servers are assumed to have the same endpoints configured: `register`, at a server's start,
stops (dead-letters) the pending deliveries of endpoints not in its settings. Subscriptions
(metadata/subscriptions.py) are rows instead: their cursors are made and removed with them."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from ..domain.events import OutboxRecord
from ..domain.models import Tenant
from ..domain.subscriptions import PREFIX, is_subscription
from ..domain.webhooks import Delivery, DeliveryRow, Outcome, QueueStats, Wants
from .base import SqlBase
from .delivery_tables import webhook_cursors as cursors
from .delivery_tables import webhook_deliveries as deliveries
from .schema import outbox

# The last error of the pending deliveries of an endpoint taken out of the settings.
REMOVED = "endpoint removed from the settings"


def start_cursor(c: Connection, endpoint: str) -> None:
    """A new endpoint's cursor starts at the current end of the outbox (it is told what happens
    from now on, not the whole history: `partway webhooks replay` sends past events on purpose).
    On PostgreSQL ids commit in id order (outbox.py), so every event committed later has a
    larger id than the end read here. An existing cursor is left as it is."""
    dialect = postgresql if c.dialect.name == "postgresql" else sqlite
    end = sa.select(sa.func.coalesce(sa.func.max(outbox.c.id), 0)).scalar_subquery()
    c.execute(
        dialect.insert(cursors)
        .values(endpoint=endpoint, last_outbox_id=end)
        .on_conflict_do_nothing()
    )


def _ensure_cursor(c: Connection, endpoint: str) -> int | None:
    """The endpoint's cursor, locked. A configured endpoint's is made on first use; a
    subscription's only when it is made (`SqlSubscriptions.add`), so a server that has not yet
    seen an unsubscribe (its cursor deleted) makes no more deliveries for it: None."""
    if not is_subscription(endpoint):
        start_cursor(c, endpoint)
    query = sa.select(cursors.c.last_outbox_id).where(cursors.c.endpoint == endpoint)
    if c.dialect.name == "postgresql":
        query = query.with_for_update()
    last = c.execute(query).scalar()
    return None if last is None else int(last)


def _new_delivery(endpoint: str, row: Any, now: datetime, deadline: datetime) -> dict[str, object]:
    """A delivery of the outbox row `row` (its id and entity_id) to `endpoint`."""
    return {
        "endpoint": endpoint,
        "outbox_id": row.id,
        "entity_id": row.entity_id,
        "state": "pending",
        "attempts": 0,
        "created_at": now,
        "next_attempt_at": now,
        "deadline": deadline,
    }


class SqlDeliveries(SqlBase):
    async def enqueue(
        self, wanted: Mapping[str, Wants], window: timedelta, now: datetime, limit: int
    ) -> int:
        if not await self._news(wanted):
            return 0

        def work(c: Connection) -> int:
            made = 0
            for endpoint, wants in wanted.items():
                last = _ensure_cursor(c, endpoint)
                if last is None:
                    continue
                rows = c.execute(
                    sa.select(outbox.c.id, outbox.c.kind, outbox.c.entity_id, outbox.c.app_id)
                    .where(outbox.c.id > last)
                    .order_by(outbox.c.id)
                    .limit(limit)
                ).all()
                if not rows:
                    continue
                new = [
                    _new_delivery(endpoint, r, now, now + window)
                    for r in rows
                    if wants(r.kind, r.app_id)
                ]
                if new:
                    c.execute(deliveries.insert(), new)
                c.execute(
                    cursors.update()
                    .where(cursors.c.endpoint == endpoint)
                    .values(last_outbox_id=rows[-1].id)
                )
                made += len(new)
            return made

        return await self._write(work)

    async def _news(self, wanted: Mapping[str, Wants]) -> bool:
        """Whether the outbox has rows some endpoint has not taken: a read, so an idle server
        polling opens no write transaction (on SQLite, a commit waiting for the disk)."""
        if not wanted:  # no endpoint configured nor subscribed
            return False

        def work(c: Connection) -> bool:
            lowest, known = c.execute(_BEHIND, {"endpoints": list(wanted)}).one()
            last = c.execute(_NEWEST).scalar()
            return known < len(wanted) or (last is not None and last > lowest)

        return await self._read(work, small=True)

    async def register(self, endpoints: Sequence[str]) -> int:
        d = deliveries
        # Subscriptions are not settings: they end with `unsubscribe`, not with a server's start.
        configured = sa.not_(d.c.endpoint.startswith(PREFIX, autoescape=True))
        stop = (
            d.update()
            .where(d.c.state == "pending", d.c.endpoint.not_in(list(endpoints)), configured)
            .values(state="dead", claimed_until=None, last_error=REMOVED)
        )
        # A removed endpoint's cursor goes too: added again, it starts at the end like any new one.
        forget = cursors.delete().where(
            cursors.c.endpoint.not_in(list(endpoints)),
            sa.not_(cursors.c.endpoint.startswith(PREFIX, autoescape=True)),
        )

        def work(c: Connection) -> int:
            for endpoint in endpoints:
                start_cursor(c, endpoint)
            c.execute(forget)
            return int(c.execute(stop).rowcount)

        return await self._write(work)

    async def turn(
        self, finished: Sequence[Outcome], now: datetime, lease: timedelta, slots: Mapping[str, int]
    ) -> list[Delivery]:
        wanted = {endpoint: n for endpoint, n in slots.items() if n > 0}
        # A read first: an idle server polling opens no write transaction.
        if not finished and not await self._read(lambda c: _any_due(c, now, wanted)):
            return []

        def work(c: Connection) -> list[Delivery]:
            _settle(c, finished, now)
            ids = [i for endpoint, n in wanted.items() for i in _due_ids(c, now, endpoint, n)]
            if not ids:
                return []
            c.execute(
                deliveries.update()
                .where(deliveries.c.id.in_(ids))
                .values(claimed_until=now + lease, attempts=deliveries.c.attempts + 1)
            )
            return _claimed(c, ids)

        return await self._write(work)

    async def prune(self, before: datetime) -> int:
        d = deliveries
        statement = d.delete().where(d.c.state == "delivered", d.c.delivered_at < before)
        return await self._write(lambda c: c.execute(statement).rowcount)

    async def stats(self) -> QueueStats:
        d = deliveries
        counts = sa.select(d.c.state, sa.func.count()).group_by(d.c.state)
        oldest = sa.select(sa.func.min(d.c.created_at)).where(d.c.state == "pending")

        def work(c: Connection) -> QueueStats:
            by_state = {state: int(n) for state, n in c.execute(counts)}
            first = c.execute(oldest).scalar()
            return QueueStats(
                pending=by_state.get("pending", 0),
                delivered=by_state.get("delivered", 0),
                dead=by_state.get("dead", 0),
                oldest_pending=first,  # min() keeps the column's type: an aware datetime
            )

        return await self._read(work)

    async def listing(self, state: str | None, limit: int) -> list[DeliveryRow]:
        d = deliveries
        query = (
            sa.select(
                d.c.id, d.c.endpoint, d.c.outbox_id, outbox.c.kind, d.c.entity_id, d.c.state,
                d.c.attempts, d.c.created_at, d.c.next_attempt_at, d.c.last_error,
            )
            .join(outbox, outbox.c.id == d.c.outbox_id)
            .order_by(d.c.id.desc())
            .limit(limit)
        )  # fmt: skip
        if state is not None:
            query = query.where(d.c.state == state)
        return await self._read(
            lambda c: [DeliveryRow(**dict(r._mapping)) for r in c.execute(query)]
        )

    async def retry(self, ids: list[int] | None, window: timedelta, now: datetime) -> int:
        """Dead letters (all, or those given) back to pending, with a fresh retry window."""
        statement = (
            deliveries.update()
            .where(deliveries.c.state == "dead")
            .values(state="pending", next_attempt_at=now, deadline=now + window,
                    claimed_until=None)
        )  # fmt: skip
        if ids is not None:
            statement = statement.where(deliveries.c.id.in_(ids))
        return await self._write(lambda c: c.execute(statement).rowcount)

    async def replay(
        self, wanted: Mapping[str, Wants], first: int, last: int | None, window: timedelta,
        now: datetime,
    ) -> int:  # fmt: skip
        """Deliver the outbox's events `first`..`last` again, as new deliveries."""
        query = sa.select(outbox.c.id, outbox.c.kind, outbox.c.entity_id, outbox.c.app_id).where(
            outbox.c.id >= first
        )
        if last is not None:
            query = query.where(outbox.c.id <= last)

        def work(c: Connection) -> int:
            rows = c.execute(query.order_by(outbox.c.id)).all()
            new = [
                _new_delivery(endpoint, r, now, now + window)
                for endpoint, wants in wanted.items()
                for r in rows
                if wants(r.kind, r.app_id)
            ]
            if new:
                c.execute(deliveries.insert(), new)
            return len(new)

        return await self._write(work)


def _pg(c: Connection) -> bool:
    return c.dialect.name == "postgresql"


def _due() -> sa.Select[Any]:
    """Due deliveries of endpoint :endpoint not being tried at :now and with no earlier one of
    their entity pending (in order per entity), oldest first, :limit of them. Built once: the
    worker asks every poll, and each build left ~150 objects (the alias's columns) in reference
    cycles for the collector."""
    d = deliveries
    earlier = deliveries.alias("earlier")
    now: sa.BindParameter[datetime] = sa.bindparam("now")
    blocked = (
        sa.exists()
        .where(earlier.c.endpoint == d.c.endpoint)
        .where(earlier.c.entity_id == d.c.entity_id)
        .where(earlier.c.id < d.c.id)
        .where(earlier.c.state == "pending")
    )
    return (
        sa.select(d.c.id)
        .where(d.c.endpoint == sa.bindparam("endpoint"), d.c.state == "pending")
        .where(d.c.next_attempt_at <= now)
        .where(sa.or_(d.c.claimed_until.is_(None), d.c.claimed_until < now))
        .where(~blocked)
        .order_by(d.c.id)
        .limit(sa.bindparam("limit", type_=sa.Integer))
    )


_DUE = _due()
_DUE_CLAIMED = _DUE.with_for_update(skip_locked=True, of=deliveries)
# Whether any endpoint of :endpoints is behind the outbox's end (SqlDeliveries._news).
_BEHIND = sa.select(sa.func.min(cursors.c.last_outbox_id), sa.func.count()).where(
    cursors.c.endpoint.in_(sa.bindparam("endpoints", expanding=True))
)
_NEWEST = sa.select(sa.func.max(outbox.c.id))


def _any_due(c: Connection, now: datetime, slots: Mapping[str, int]) -> bool:
    due = ({"now": now, "endpoint": e, "limit": 1} for e in slots)
    return any(c.execute(_DUE, params).first() is not None for params in due)


def _due_ids(c: Connection, now: datetime, endpoint: str, limit: int) -> list[int]:
    query = _DUE_CLAIMED if _pg(c) else _DUE
    params = {"now": now, "endpoint": endpoint, "limit": limit}
    return [int(i) for i in c.execute(query, params).scalars()]


def _settle(c: Connection, finished: Sequence[Outcome], now: datetime) -> None:
    """Delivered tries in one statement; each failure with its own retry time."""
    d = deliveries
    delivered = [o.delivery_id for o in finished if o.error is None]
    if delivered:
        c.execute(
            d.update()
            .where(d.c.id.in_(delivered))
            .values(state="delivered", delivered_at=now, claimed_until=None, last_error=None)
        )
    for o in finished:
        if o.error is None:
            continue
        values: dict[str, object] = {"claimed_until": None, "last_error": o.error}
        if o.retry_at is None:
            values["state"] = "dead"
        else:
            values["next_attempt_at"] = o.retry_at
        c.execute(d.update().where(d.c.id == o.delivery_id).values(**values))


def _claimed(c: Connection, ids: list[int]) -> list[Delivery]:
    d = deliveries
    rows = c.execute(
        sa.select(
            d.c.id, d.c.endpoint, d.c.attempts, d.c.deadline, outbox.c.id,
            outbox.c.kind, outbox.c.entity_id, outbox.c.app_id, outbox.c.consumer_id,
            outbox.c.occurred_at, outbox.c.payload,
        )
        .join(outbox, outbox.c.id == d.c.outbox_id)
        .where(d.c.id.in_(ids))
        .order_by(d.c.id)
    ).all()  # fmt: skip
    return [
        Delivery(
            r[0], r[1], r[2], r[3],
            OutboxRecord(r[4], r[5], r[6], Tenant(r[7], r[8]), r[9], json.loads(r[10])),
        )
        for r in rows
    ]  # fmt: skip
