"""Alembic migrations produce exactly the schema the code declares, upgrade a database in
place with its data, and run both ways — on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Engine

from partway.metadata import catalog, migrate
from partway.metadata.engine import make_engine
from partway.metadata.schema import metadata

from ..backends import drop_database, new_database


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'm.db'}"
        return
    url = new_database()
    yield url
    drop_database(url)


def test_migrations_match_schema_and_downgrade(database: str) -> None:
    engine = make_engine(database)
    assert migrate.pending(engine)
    migrate.upgrade(engine)
    assert not migrate.pending(engine)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": catalog.declared})
        diff = compare_metadata(context, metadata)
    assert diff == []

    config = migrate._config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
    assert migrate.pending(engine)
    migrate.upgrade(engine)
    assert not migrate.pending(engine)
    engine.dispose()


def _a_session_row(engine: Engine) -> None:
    """A session and a part as the first release wrote them."""
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO upload_sessions (id, app_id, consumer_id, service_id, drive_id, "
                "folder_id, name, size, part_size, state, storage_key, created_at, updated_at, "
                "expires_at) VALUES ('ses_1', 'app', 'c', 'local', 'default', 'root', 'a.bin', "
                "10, 5, 'open', 'obj_00000001', :t, :t, :t)"
            ),
            {"t": "2026-01-01 00:00:00"},
        )
        conn.execute(
            sa.text(
                "INSERT INTO upload_parts (session_id, number, size, sha1, recorded_at) "
                "VALUES ('ses_1', 0, 5, NULL, :t)"
            ),
            {"t": "2026-01-01 00:00:00"},
        )


def test_upgrade_from_the_first_release_keeps_the_data(database: str) -> None:
    engine = make_engine(database)
    migrate.upgrade(engine, "0001")
    _a_session_row(engine)
    migrate.upgrade(engine)
    with engine.connect() as conn:
        session = conn.execute(sa.text("SELECT storage_handle, name FROM upload_sessions")).one()
        part = conn.execute(sa.text("SELECT number, size, tag FROM upload_parts")).one()
    assert tuple(session) == ("", "a.bin")
    assert tuple(part) == (0, 5, None)
    engine.dispose()


def test_instances_starting_together_migrate_once(database: str) -> None:
    engines = [make_engine(database) for _ in range(3)]
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(migrate.upgrade, engines))
    assert not any(migrate.pending(e) for e in engines)
    for engine in engines:
        engine.dispose()


def test_upgrade_counts_each_consumers_usage(database: str) -> None:
    """The counters admission reads start out equal to what the rows of release 0002 say."""
    engine = make_engine(database)
    migrate.upgrade(engine, "0002")
    t = "2026-01-01 00:00:00"
    sessions = [
        # id, consumer, size, state, part sizes
        ("ses_1", "c", 10, "open", [5]),
        ("ses_2", "c", None, "finishing", [5, 3]),
        ("ses_3", "c", 7, "finished", [7]),
        ("ses_4", "c", None, "expired", []),
        ("ses_5", "d", None, "open", []),
    ]
    with engine.begin() as conn:
        for sid, consumer, size, state, part_sizes in sessions:
            conn.execute(
                sa.text(
                    "INSERT INTO upload_sessions (id, app_id, consumer_id, service_id, drive_id, "
                    "folder_id, name, size, part_size, state, storage_key, created_at, "
                    "updated_at, expires_at) VALUES (:id, 'app', :consumer, 'local', 'default', "
                    "'root', :id, :size, 5, :state, :id, :t, :t, :t)"
                ),
                {"id": sid, "consumer": consumer, "size": size, "state": state, "t": t},
            )
            for number, part_size in enumerate(part_sizes):
                conn.execute(
                    sa.text(
                        "INSERT INTO upload_parts (session_id, number, size, recorded_at) "
                        "VALUES (:id, :n, :size, :t)"
                    ),
                    {"id": sid, "n": number, "size": part_size, "t": t},
                )
        for eid, consumer, kind, size in [
            ("file_1", "c", "file", 7),
            ("fld_1", "c", "folder", None),
            ("file_2", "e", "file", 4),
        ]:
            conn.execute(
                sa.text(
                    "INSERT INTO entries (id, app_id, consumer_id, drive_id, parent_id, name, "
                    "kind, size, created_at, updated_at) VALUES (:id, 'app', :consumer, "
                    "'default', 'root', :id, :kind, :size, :t, :t)"
                ),
                {"id": eid, "consumer": consumer, "kind": kind, "size": size, "t": t},
            )
    migrate.upgrade(engine)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT consumer_id, open_sessions, reserved_bytes, stored_bytes "
                "FROM tenant_usage ORDER BY consumer_id"
            )
        ).all()
    assert [tuple(r) for r in rows] == [("c", 2, 18, 7), ("d", 1, 0, 0), ("e", 0, 0, 4)]
    engine.dispose()
