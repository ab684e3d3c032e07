"""Alembic migrations produce exactly the schema the code declares, upgrade a database in
place with its data, and run both ways — on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Engine

from partway.config import Settings
from partway.domain.digests import parse_digest
from partway.domain.models import Placement
from partway.metadata import catalog, migrate
from partway.metadata.engine import make_engine
from partway.metadata.schema import metadata
from partway.storage import storage_from_url

from ..backends import Backend, drop_database, new_database
from ..e2e.helpers import sha1_header
from .helpers import TENANT, Clock, body, make_services, read_all, run, upload_part

PART = 5 * 1024 * 1024  # S3's smallest part


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
        part = conn.execute(sa.text("SELECT start, size, tag FROM upload_ranges")).one()
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


OLD_SESSION = sa.text(
    "INSERT INTO upload_sessions (id, app_id, consumer_id, service_id, drive_id, folder_id, "
    "name, size, part_size, state, storage_key, created_at, updated_at, expires_at, "
    "storage_handle) VALUES (:id, :app, :consumer, :service, 'default', 'root', :name, :size, "
    ":part_size, 'open', :key, :t, :t, :t, :handle)"
)
OLD_PART = sa.text(
    "INSERT INTO upload_parts (session_id, number, size, sha1, recorded_at, tag) "
    "VALUES (:sid, :number, :size, :sha1, :t, :tag)"
)
OLD_USAGE = sa.text(
    "INSERT INTO tenant_usage (app_id, consumer_id, open_sessions, reserved_bytes, "
    "stored_bytes) VALUES (:app, :consumer, :open, :reserved, 0)"
)


def test_open_sessions_stay_resumable_across_the_upgrade_to_ranges(
    backend: Backend, clock: Clock
) -> None:
    """Sessions with parts written under schema 0004 (upload_parts, keyed by part number) are
    finished after the upgrade to 0005 (upload_ranges, keyed by start): the bytes sit where the
    old code put them (offset n × part_size; S3 part n + 1), so only the rows move."""
    settings = Settings(fsync=False, **backend.settings_overrides())  # type: ignore[arg-type]
    engine = make_engine(settings.metadata_url())
    migrate.upgrade(engine, "0004")
    storage = storage_from_url(settings.storage_urls()[backend.service_id], fsync=False)
    payload = os.urandom(3 * PART + 11)
    pieces = [payload[i : i + PART] for i in range(0, len(payload), PART)]
    sized = ("ses_00000001", "sized.bin", len(payload), (0, 2))
    unsized = ("ses_00000002", "open-ended.bin", None, (0,))
    when = clock.now + timedelta(days=1)

    async def old_release() -> None:
        """What release 0004 left behind: bytes in the store, rows in upload_parts."""
        with engine.begin() as conn:
            for sid, name, size, numbers in (sized, unsized):
                key = f"obj_{sid[4:]}"
                handle = await storage.begin(key)
                conn.execute(
                    OLD_SESSION,
                    dict(
                        id=sid,
                        app=TENANT.app_id,
                        consumer=TENANT.consumer_id,
                        service=backend.service_id,
                        name=name,
                        size=size,
                        part_size=PART,
                        key=key,
                        t=when,
                        handle=handle,
                    ),
                )
                for n in numbers:
                    at = Placement(key, handle, PART)
                    data = pieces[n]
                    written = await storage.write_range(at, n * PART, body(data), len(data), PART)
                    sha1 = hashlib.sha1(data).hexdigest()
                    part = dict(sid=sid, number=n, size=len(data), sha1=sha1, t=when)
                    conn.execute(OLD_PART, {**part, "tag": written.tag})
            reserved = len(payload) + PART
            usage = dict(app=TENANT.app_id, consumer=TENANT.consumer_id, open=2)
            conn.execute(OLD_USAGE, {**usage, "reserved": reserved})
        await storage.close()

    asyncio.run(old_release())
    migrate.upgrade(engine)
    engine.dispose()
    services = make_services(backend, clock)

    async def resume() -> None:
        uploads = services.uploads
        first = await uploads.get(TENANT, sized[0])
        assert [(r.start, r.size) for r in first.ranges] == [(0, PART), (2 * PART, PART)]
        await upload_part(uploads, TENANT, sized[0], 1, body(pieces[1]), PART, None)
        await upload_part(uploads, TENANT, sized[0], 3, body(pieces[3]), 11, None)
        digest = parse_digest(sha1_header(payload))
        assert await read_all(services, await uploads.finish(TENANT, sized[0], digest)) == payload
        await upload_part(uploads, TENANT, unsized[0], 1, body(b"tail"), 4, None)
        entry = await uploads.finish(TENANT, unsized[0], None)
        assert await read_all(services, entry) == pieces[0] + b"tail"

    run(resume(), services)
