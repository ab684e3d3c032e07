"""A create costs the same however many sessions, parts and files its consumer has: on SQLite,
no statement it runs reads a range of the consumer's sessions, parts or entries (the query
plan of each, as SQLite would run it with the same parameters)."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from partway.domain.models import NewSession
from partway.services import Services

from ..backends import make_backend
from .helpers import TENANT, Clock, body, make_services, run, upload_part

ROWS = ("upload_sessions", "upload_ranges", "entries")
# A whole-table scan, or an index search pinned by the consumer alone (app_id, consumer_id).
RANGE = re.compile(
    rf"^(SCAN ({'|'.join(ROWS)})\b|SEARCH ({'|'.join(ROWS)}) .*\(app_id=\? AND consumer_id=\?\)$)"
)


@contextmanager
def statements() -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "UPDATE", "INSERT", "DELETE")):
            seen.append((statement, parameters))

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", record)


def ranges_read(database: Path, seen: list[tuple[str, Any]]) -> list[str]:
    with sqlite3.connect(database) as conn:
        return [
            f"{row[3]}  ← {statement}"
            for statement, parameters in seen
            for row in conn.execute(f"EXPLAIN QUERY PLAN {statement}", parameters)
            if RANGE.match(row[3])
        ]


def test_create_reads_no_range_of_the_consumers_rows(tmp_path: Path, clock: Clock) -> None:
    backend = make_backend("local+sqlite", tmp_path)
    services: Services = make_services(
        backend, clock, max_open_sessions=100, default_quota_bytes=10**9
    )
    service = backend.service_id

    async def scenario() -> None:
        for n in range(3):  # a consumer with sessions, parts and a file already
            held = await services.uploads.create(TENANT, service, NewSession(f"{n}", "root", 3))
            await upload_part(services.uploads, TENANT, held.id, 0, body(b"abc"), 3, None)
        await services.uploads.finish(TENANT, held.id, None)
        with statements() as seen:
            await services.uploads.create(TENANT, service, NewSession("new.bin", "root", 3))
        assert seen
        assert ranges_read(backend.data_dir / "partway.db", seen) == []

    run(scenario(), services)
