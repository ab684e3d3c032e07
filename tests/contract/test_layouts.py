"""LayoutQueries.set_layout (metadata/layouts.py) on SQLite and PostgreSQL: an S3 upload whose
client chose its parts gets its size and part size at complete, only while it is open and
partway has recorded none of its ranges (they would sit on the old grid)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from partway.domain.models import ByteRange, SessionState
from partway.domain.repositories import OpenLimits
from partway.metadata import migrate
from partway.metadata.engine import make_engine
from partway.metadata.sql import SqlRepository

from ..backends import drop_database, new_database
from .test_repository import T0, TENANT, a_session, go


@pytest.fixture(params=["sqlite", "postgresql"])
def sql(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlRepository]:
    url = f"sqlite:///{tmp_path / 'l.db'}" if request.param == "sqlite" else new_database()
    engine = make_engine(url, durable=False)
    migrate.upgrade(engine)
    repo = SqlRepository(engine, durable=False)
    yield repo
    repo.close()
    engine.dispose()
    if request.param == "postgresql":
        drop_database(url)


def test_an_open_session_without_ranges_takes_its_layout(sql: SqlRepository) -> None:
    async def scenario() -> None:
        s = a_session("laid.bin", size=None, direct=True)
        await sql.insert_session(s, OpenLimits())
        assert await sql.set_layout(s.id, 12_000_017, 6_000_000)
        got = await sql.get_session(TENANT, s.id)
        assert got is not None and (got.size, got.part_size) == (12_000_017, 6_000_000)
        assert got.placement.grid == 6_000_000 and got.direct
        assert await sql.set_layout(s.id, 12_000_017, 6_000_000)  # a retried complete

    go(scenario())


def test_a_recorded_range_or_a_closed_session_keeps_its_layout(sql: SqlRepository) -> None:
    async def scenario() -> None:
        s = a_session("proxied.bin", size=None)
        await sql.insert_session(s, OpenLimits())
        later = T0 + timedelta(minutes=1)
        assert await sql.record_range(s.id, ByteRange(0, 10), later, later)
        assert not await sql.set_layout(s.id, 20, 20)
        got = await sql.get_session(TENANT, s.id)
        assert got is not None and (got.size, got.part_size) == (None, 10)

        closing = a_session("closing.bin", size=None)
        await sql.insert_session(closing, OpenLimits())
        assert await sql.set_state(closing.id, SessionState.OPEN, SessionState.FINISHING, T0)
        assert not await sql.set_layout(closing.id, 20, 20)
        assert not await sql.set_layout("ses_unknown", 20, 20)

    go(scenario())
