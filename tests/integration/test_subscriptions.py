"""Webhook subscriptions in SQL, on SQLite and PostgreSQL: a subscription's cursor is made with
it at the end of the outbox; removing it stops its pending deliveries and a server that has not
seen the removal yet makes no more; a server's start leaves subscriptions' deliveries alone."""

from __future__ import annotations

import asyncio

from sqlalchemy.engine import Engine

from partway.domain.subscriptions import Subscription
from partway.metadata.deliveries import SqlDeliveries
from partway.metadata.subscriptions import UNSUBSCRIBED, SqlSubscriptions

from .test_deliveries import NOW, WINDOW, add_events, engine, everything

__all__ = ["engine"]  # the fixture, parametrized over both databases

SUB = Subscription("sub_1", "app", "https://hooks.example.com/x", ("file.created",), NOW)


def test_a_subscription_starts_at_the_end_and_stops_when_removed(engine: Engine) -> None:
    queue, store = SqlDeliveries(engine), SqlSubscriptions(engine)

    async def scenario() -> None:
        add_events(engine, "f1")  # before the subscription: not its business
        await store.add(SUB, b"sealed")
        add_events(engine, "f2", "f3")
        assert await queue.enqueue({SUB.id: everything}, WINDOW, NOW, 100) == 2
        # A server starting with other configured endpoints does not stop a subscription.
        assert await queue.register(["main"]) == 0
        assert await store.remove(SUB.id) == 2
        dead = await queue.listing("dead", 10)
        assert {(r.endpoint, r.entity_id, r.last_error) for r in dead} == {
            (SUB.id, "f2", UNSUBSCRIBED),
            (SUB.id, "f3", UNSUBSCRIBED),
        }
        # A server that still believes in the subscription makes no delivery for it.
        add_events(engine, "f4")
        assert await queue.enqueue({SUB.id: everything}, WINDOW, NOW, 100) == 0
        assert await store.remove(SUB.id) is None
        assert await store.listing() == []

    try:
        asyncio.run(scenario())
    finally:
        queue.close()
        store.close()


def test_listing_never_carries_the_sealed_secret(engine: Engine) -> None:
    store = SqlSubscriptions(engine)

    async def scenario() -> None:
        await store.add(SUB, b"sealed-bytes")
        other = Subscription("sub_2", "other", "https://x.example.com", (), NOW)
        await store.add(other, b"more")
        assert await store.listing("app") == [SUB]
        assert [s.sealed_secret for s in await store.sealed()] == [b"sealed-bytes", b"more"]

    try:
        asyncio.run(scenario())
    finally:
        store.close()
