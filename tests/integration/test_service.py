"""Domain services over each real backend (repository, storage, locks); a fake clock."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from partway.domain.errors import NotFound
from partway.domain.models import NewSession
from partway.services import Services

from ..backends import Backend, make_backend
from .helpers import TENANT, Clock, body, make_services, run, upload_part


@pytest.fixture
def services(backend: Backend, clock: Clock) -> Services:
    return make_services(backend, clock, session_ttl_seconds=3600)


def test_session_expires_an_hour_after_its_last_activity(services: Services, clock: Clock) -> None:
    uploads = services.uploads

    async def scenario() -> None:
        session = await uploads.create(
            TENANT, services.settings.default_service, NewSession("a.bin", "root", 6)
        )
        clock.now += timedelta(minutes=50)
        await upload_part(uploads, TENANT, session.id, 0, body(b"abcdef"), 6, None)
        clock.now += timedelta(minutes=50)
        # Still alive: the part moved the expiry forward.
        assert (await uploads.get(TENANT, session.id)).uploaded_bytes() == 6
        clock.now += timedelta(minutes=11)
        with pytest.raises(NotFound, match="expired"):
            await uploads.get(TENANT, session.id)

    run(scenario(), services)


def test_finish_keeps_the_object_in_place(tmp_path: Path, clock: Clock) -> None:
    """Local storage only: finishing moves no bytes, the session's file becomes the file's."""
    services = make_services(make_backend("local+sqlite", tmp_path), clock)
    uploads = services.uploads

    async def scenario() -> None:
        session = await uploads.create(
            TENANT, services.settings.default_service, NewSession("b.bin", "root", 4)
        )
        path = tmp_path / "data" / "objects" / session.storage_key
        inode = path.stat().st_ino
        await upload_part(uploads, TENANT, session.id, 0, body(b"data"), 4, None)
        entry = await uploads.finish(TENANT, session.id, None)
        assert entry.storage_key == session.storage_key
        assert path.stat().st_ino == inode and path.read_bytes() == b"data"

    run(scenario(), services)


def test_finish_waits_for_a_part_in_flight(services: Services) -> None:
    uploads = services.uploads

    async def slow_body() -> AsyncIterator[bytes]:
        yield b"ab"
        await asyncio.sleep(0.3)
        yield b"cd"

    async def scenario() -> None:
        session = await uploads.create(
            TENANT, services.settings.default_service, NewSession("c.bin", "root", 4)
        )
        writing = asyncio.create_task(
            upload_part(uploads, TENANT, session.id, 0, slow_body(), 4, None)
        )
        await asyncio.sleep(0.1)
        entry = await uploads.finish(TENANT, session.id, None)
        await writing
        assert entry.size == 4

    run(scenario(), services)


def test_a_part_recorded_while_another_process_writes_waits_off_the_event_loop(
    tmp_path: Path, clock: Clock
) -> None:
    """Without fsync a part is recorded on the event loop when nobody else is writing; when
    another process holds SQLite's write lock, it waits in a worker thread instead."""
    services = make_services(make_backend("local+sqlite", tmp_path), clock)
    uploads = services.uploads
    database = sa.make_url(services.settings.metadata_url()).database
    assert database

    async def scenario() -> None:
        session = await uploads.create(
            TENANT, services.settings.default_service, NewSession("c.bin", "root", 4)
        )
        other = sqlite3.connect(database, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # as a second server process in mid-write
        try:
            upload = asyncio.create_task(
                upload_part(uploads, TENANT, session.id, 0, body(b"data"), 4, None)
            )
            began = asyncio.get_running_loop().time()
            for _ in range(20):
                await asyncio.sleep(0.01)
            # The loop kept turning (20 sleeps of 10 ms), and the part is still waiting.
            assert asyncio.get_running_loop().time() - began < 1.0
            assert not upload.done()
        finally:
            other.execute("COMMIT")
            other.close()
        await upload
        assert (await uploads.get(TENANT, session.id)).uploaded_bytes() == 4

    run(scenario(), services)
