"""A create's name check reads one index entry, whatever the consumer holds: SQLite must use
the partial index of open upload names, which it does only when the query's state condition
is written into the SQL (bound parameters hide the implication from its planner)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from partway.config import Settings
from partway.domain.models import Tenant
from partway.metadata.entries import EntryQueries
from partway.services import open_metadata


def test_the_name_check_searches_the_open_name_index(tmp_path: Path) -> None:
    engine = open_metadata(Settings(data_dir=tmp_path, fsync=False))
    seen: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        queries = EntryQueries(engine, durable=False)
        taken = asyncio.run(queries.name_taken(Tenant("app", "me"), "default", "root", "a.bin"))
        assert taken is False
        sa.event.remove(engine, "before_cursor_execute", capture)
        (on_sessions,) = [(s, p) for s, p in seen if "FROM upload_sessions" in s]
        with engine.connect() as conn:
            plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + on_sessions[0], on_sessions[1])
            details = " ".join(str(row[-1]) for row in plan)
        assert "USING INDEX ux_upload_sessions_open_name" in details, details
    finally:
        engine.dispose()
