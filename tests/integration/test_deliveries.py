"""The webhook delivery queue on SQLite and PostgreSQL: where a new endpoint's cursor starts,
what a removed endpoint's deliveries become, and what a turn settles and claims (in order per
entity, within each endpoint's free slots, after a retry time)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from partway.domain.webhooks import Outcome
from partway.metadata import migrate
from partway.metadata.deliveries import REMOVED, SqlDeliveries
from partway.metadata.engine import make_engine
from partway.metadata.schema import outbox

from ..backends import drop_database, new_database

NOW = datetime(2026, 1, 1, tzinfo=UTC)
LEASE = timedelta(seconds=30)
WINDOW = timedelta(hours=25)


def everything(kind: str, app_id: str) -> bool:
    return True


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'd.db'}" if request.param == "sqlite" else new_database()
    engine = make_engine(url)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()
    if request.param == "postgresql":
        drop_database(url)


def add_events(engine: Engine, *entities: str) -> None:
    rows = [
        {"kind": "file.created", "entity_id": e, "app_id": "app", "consumer_id": "c",
         "occurred_at": NOW, "payload": "{}"}
        for e in entities
    ]  # fmt: skip
    with engine.begin() as c:
        c.execute(outbox.insert(), rows)


def test_a_new_endpoint_starts_at_the_end_of_the_outbox(engine: Engine) -> None:
    queue = SqlDeliveries(engine)

    async def scenario() -> None:
        add_events(engine, "f1", "f2")  # history before the endpoint existed
        assert await queue.register(["a"]) == 0
        assert await queue.enqueue({"a": everything}, WINDOW, NOW, 100) == 0
        add_events(engine, "f3")
        assert await queue.enqueue({"a": everything}, WINDOW, NOW, 100) == 1
        # An endpoint first seen by enqueue (no register) starts at the end too.
        assert await queue.enqueue({"a": everything, "b": everything}, WINDOW, NOW, 100) == 0

    try:
        asyncio.run(scenario())
    finally:
        queue.close()


def test_turns_keep_order_per_entity_slots_and_retry_times(engine: Engine) -> None:
    queue = SqlDeliveries(engine)

    async def scenario() -> None:
        await queue.register(["a"])
        add_events(engine, "e1", "e1", "e2", "e3", "e4")
        assert await queue.enqueue({"a": everything}, WINDOW, NOW, 100) == 5
        first = await queue.turn([], NOW, LEASE, {"a": 2})
        assert [d.record.entity_id for d in first] == ["e1", "e2"]  # two slots
        more = await queue.turn([], NOW, LEASE, {"a": 8})
        # e1's second event waits behind its first, which is being tried.
        assert [d.record.entity_id for d in more] == ["e3", "e4"]
        assert await queue.turn([], NOW, LEASE, {"a": 8}) == []
        later = NOW + timedelta(seconds=5)
        settled = [
            Outcome(first[0].id),  # e1 delivered
            Outcome(first[1].id, "HTTP 503", later),  # e2 again in 5 s
            Outcome(more[0].id, "HTTP 410", None),  # e3 dead
        ]
        again = await queue.turn(settled, NOW, LEASE, {"a": 8})
        assert [(d.record.entity_id, d.attempts) for d in again] == [("e1", 1)]
        assert await queue.turn([], later, LEASE, {"a": 8}) != []  # e2's retry is due
        stats = await queue.stats()
        assert (stats.delivered, stats.dead, stats.pending) == (1, 1, 3)

    try:
        asyncio.run(scenario())
    finally:
        queue.close()


def test_a_removed_endpoint_is_stopped_and_starts_afresh_if_added_again(engine: Engine) -> None:
    queue = SqlDeliveries(engine)

    async def scenario() -> None:
        await queue.register(["a", "gone"])
        add_events(engine, "e1", "e2")
        wanted = {"a": everything, "gone": everything}
        assert await queue.enqueue(wanted, WINDOW, NOW, 100) == 4
        assert await queue.register(["a"]) == 2  # gone's two pending deliveries
        rows = await queue.listing("dead", 10)
        assert {(r.endpoint, r.last_error) for r in rows} == {("gone", REMOVED)}
        assert len(await queue.turn([], NOW, LEASE, {"a": 8, "gone": 8})) == 2  # a's only
        add_events(engine, "e3")
        await queue.register(["a", "gone"])  # back: from the end, not from where it was
        assert await queue.enqueue(wanted, WINDOW, NOW, 100) == 1  # a's e3

    try:
        asyncio.run(scenario())
    finally:
        queue.close()


def test_a_claim_is_exclusive_between_two_processes_queues(engine: Engine) -> None:
    """Two queues (as two servers would have) never claim one delivery both."""
    one, two = SqlDeliveries(engine), SqlDeliveries(engine)

    async def scenario() -> None:
        await one.register(["a"])
        add_events(engine, *(f"e{n}" for n in range(40)))
        await one.enqueue({"a": everything}, WINDOW, NOW, 100)
        claims = await asyncio.gather(
            *(q.turn([], NOW, LEASE, {"a": 8}) for q in (one, two, one, two, one, two))
        )
        ids = [d.id for batch in claims for d in batch]
        assert len(ids) == len(set(ids)) == 40

    try:
        asyncio.run(scenario())
    finally:
        one.close()
        two.close()
