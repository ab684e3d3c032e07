"""SQLite group commit: many writes to a transaction, each in a savepoint of its own."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from partway.metadata.engine import make_engine
from partway.metadata.group_commit import GroupCommit

ROWS = sa.table("rows", sa.column("id", sa.Integer), sa.column("parent", sa.Integer))


@pytest.fixture
def engine(tmp_path: Path) -> sa.Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with engine.begin() as c:
        # A deferred foreign key is checked at COMMIT: a way to make a whole batch fail there.
        c.exec_driver_sql(
            "CREATE TABLE rows (id INTEGER PRIMARY KEY, parent INTEGER "
            "REFERENCES rows (id) DEFERRABLE INITIALLY DEFERRED)"
        )
    return engine


def insert(row_id: int, parent: int | None = None) -> Callable[[Connection], int]:
    def work(c: Connection) -> int:
        c.execute(ROWS.insert().values(id=row_id, parent=parent))
        return row_id

    return work


def stored(engine: sa.Engine) -> list[int]:
    with engine.connect() as c:
        return sorted(r.id for r in c.execute(sa.select(ROWS.c.id)))


def in_one_batch(engine: sa.Engine, works: list[Callable[[Connection], int]]) -> list[Any]:
    """Run the writes through one GroupCommit, queued while its lock is held so that they all
    go into one batch; their outcomes in order."""

    async def scenario() -> list[Any]:
        mutex = threading.Lock()
        group = GroupCommit(engine, mutex)
        with mutex:
            futures = [group.submit(work) for work in works]
            await asyncio.sleep(0.05)  # the writer has taken the first and waits for the lock
        try:
            return await asyncio.gather(*futures, return_exceptions=True)
        finally:
            group.close()

    return asyncio.run(scenario())


def test_a_failing_write_undoes_only_itself(engine: sa.Engine) -> None:
    results = in_one_batch(engine, [insert(1), insert(2), insert(2), insert(3)])
    assert results[:2] == [1, 2] and results[3] == 3
    assert isinstance(results[2], sa.exc.IntegrityError)  # the second 2 collided
    assert stored(engine) == [1, 2, 3]


def test_a_batch_that_cannot_commit_is_retried_one_write_at_a_time(engine: sa.Engine) -> None:
    """Row 5 names a parent that never exists: the batch's COMMIT fails; each write then
    runs alone and only row 5's waiter sees the error."""
    results = in_one_batch(engine, [insert(4), insert(5, parent=99), insert(6, parent=4)])
    assert results[0] == 4 and results[2] == 6
    assert isinstance(results[1], sa.exc.IntegrityError)
    assert stored(engine) == [4, 6]


def test_writes_are_answered_after_their_commit(engine: sa.Engine) -> None:
    async def scenario() -> None:
        group = GroupCommit(engine, threading.Lock())
        try:
            for i in range(20):
                assert await group.submit(insert(i)) == i
                assert i in stored(engine)  # another connection sees it once answered
        finally:
            group.close()

    asyncio.run(scenario())


def test_a_write_alone_that_fails_at_commit_reports_it_and_the_next_one_succeeds(
    engine: sa.Engine,
) -> None:
    async def scenario() -> None:
        group = GroupCommit(engine, threading.Lock())
        try:
            with pytest.raises(sa.exc.IntegrityError):
                await group.submit(insert(7, parent=99))
            assert await group.submit(insert(8)) == 8
        finally:
            group.close()

    asyncio.run(scenario())
    assert stored(engine) == [8]
