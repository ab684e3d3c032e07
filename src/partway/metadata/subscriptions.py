"""Webhook subscriptions in SQL. Adding one makes its cursor at the end of the outbox in the
same transaction, so it gets every event committed after the CLI returns, whenever a server
first sees it. Removing one deletes its cursor first (on PostgreSQL that waits for an `enqueue`
holding it), then dead-letters its pending deliveries, those just made included."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..domain.subscriptions import SealedSubscription, Subscription
from .base import SqlBase
from .deliveries import start_cursor
from .delivery_tables import webhook_cursors as cursors
from .delivery_tables import webhook_deliveries as deliveries
from .delivery_tables import webhook_subscriptions as subscriptions

UNSUBSCRIBED = "subscription removed"

_LISTED = (
    subscriptions.c.id, subscriptions.c.app_id, subscriptions.c.url, subscriptions.c.events,
    subscriptions.c.created_at,
)  # fmt: skip


def _subscription(row: Any) -> Subscription:  # a row of _LISTED
    return Subscription(row[0], row[1], row[2], tuple(json.loads(row[3])), row[4])


class SqlSubscriptions(SqlBase):
    async def add(self, subscription: Subscription, sealed_secret: bytes) -> None:
        row = {
            "id": subscription.id,
            "app_id": subscription.app_id,
            "url": subscription.url,
            "events": json.dumps(list(subscription.events)),
            "sealed_secret": sealed_secret,
            "created_at": subscription.created_at,
        }

        def work(c: Connection) -> None:
            c.execute(subscriptions.insert().values(**row))
            start_cursor(c, subscription.id)

        await self._write(work)

    async def remove(self, subscription_id: str) -> int | None:
        """None if there is no such subscription; else how many pending deliveries stopped."""
        d = deliveries

        def work(c: Connection) -> int | None:
            c.execute(cursors.delete().where(cursors.c.endpoint == subscription_id))
            gone = c.execute(subscriptions.delete().where(subscriptions.c.id == subscription_id))
            if not gone.rowcount:
                return None
            stopped = c.execute(
                d.update()
                .where(d.c.endpoint == subscription_id, d.c.state == "pending")
                .values(state="dead", claimed_until=None, last_error=UNSUBSCRIBED)
            )
            return int(stopped.rowcount)

        return await self._write(work)

    async def listing(self, app_id: str | None = None) -> list[Subscription]:
        query = sa.select(*_LISTED).order_by(subscriptions.c.created_at, subscriptions.c.id)
        if app_id is not None:
            query = query.where(subscriptions.c.app_id == app_id)
        return await self._read(lambda c: [_subscription(r) for r in c.execute(query)])

    async def sealed(self) -> list[SealedSubscription]:
        """Every subscription with its sealed secret: what a server delivers to."""
        query = sa.select(*_LISTED, subscriptions.c.sealed_secret).order_by(subscriptions.c.id)
        return await self._read(
            lambda c: [SealedSubscription(_subscription(r), bytes(r[5])) for r in c.execute(query)],
            small=True,
        )
