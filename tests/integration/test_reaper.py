"""The reaper with an injectable clock: expired bytes really leave the disk, exactly once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from partway.domain.errors import NameTaken, NotFound
from partway.domain.models import NewSession
from partway.services import Services

from ..backends import Backend
from .helpers import TENANT, Clock, body, make_services, read_all, run, upload_part

HOUR = 3600


def reaping_services(backend: Backend, clock: Clock) -> Services:
    return make_services(
        backend,
        clock,
        session_ttl_seconds=HOUR,
        finished_retention_seconds=HOUR,
        orphan_grace_seconds=60,
    )


def test_expired_session_bytes_are_gone(backend: Backend, clock: Clock) -> None:
    services = reaping_services(backend, clock)
    uploads = services.uploads

    async def scenario() -> None:
        session = await uploads.create(TENANT, backend.service_id, NewSession("old.bin", "root", 5))
        await upload_part(uploads, TENANT, session.id, 0, body(b"12345"), 5, None)
        kept = await uploads.create(TENANT, backend.service_id, NewSession("fresh.bin", "root", 5))
        assert session.storage_key in backend.stored_keys()

        clock.now += timedelta(minutes=30)
        await upload_part(uploads, TENANT, kept.id, 0, body(b"12345"), 5, None)
        clock.now += timedelta(minutes=31)
        report = await services.reaper.run_once()
        assert (report.expired, report.bytes_freed) == (1, 5)
        assert session.storage_key not in backend.stored_keys()
        assert kept.storage_key in backend.stored_keys()
        with pytest.raises(NotFound, match="expired"):
            await uploads.get(TENANT, session.id)
        # The name is free again.
        await uploads.create(TENANT, backend.service_id, NewSession("old.bin", "root", 5))

        # The first tombstone (expired an hour ago) goes; the two newly expired stay a while.
        clock.now += timedelta(minutes=70)
        report = await services.reaper.run_once()
        assert (report.expired, report.purged_rows) == (2, 1)
        clock.now += timedelta(hours=3)
        assert (await services.reaper.run_once()).purged_rows == 2

    run(scenario(), services)


def test_finished_file_outlives_its_session(backend: Backend, clock: Clock) -> None:
    services = reaping_services(backend, clock)
    uploads = services.uploads

    async def scenario() -> None:
        session = await uploads.create(
            TENANT, backend.service_id, NewSession("keep.bin", "root", 2)
        )
        await upload_part(uploads, TENANT, session.id, 0, body(b"ok"), 2, None)
        entry = await uploads.finish(TENANT, session.id, None)
        clock.now += timedelta(hours=2)
        report = await services.reaper.run_once()
        assert report.expired == 0 and report.purged_rows == 1
        with pytest.raises(NotFound):
            await uploads.get(TENANT, session.id)
        assert entry.storage_key in backend.stored_keys()
        assert await read_all(services, entry) == b"ok"

    run(scenario(), services)


def test_expired_holder_does_not_block_its_name(backend: Backend, clock: Clock) -> None:
    services = reaping_services(backend, clock)
    uploads = services.uploads

    async def scenario() -> None:
        first = await uploads.create(TENANT, backend.service_id, NewSession("n.bin", "root", 1))
        with pytest.raises(NameTaken):
            await uploads.create(TENANT, backend.service_id, NewSession("n.bin", "root", 1))
        clock.now += timedelta(hours=2)
        second = await uploads.create(TENANT, backend.service_id, NewSession("n.bin", "root", 1))
        assert second.id != first.id and first.storage_key not in backend.stored_keys()

    run(scenario(), services)


def test_two_reapers_on_one_store_reap_each_session_once(backend: Backend, clock: Clock) -> None:
    a, b = reaping_services(backend, clock), reaping_services(backend, clock)

    async def scenario() -> None:
        for n in range(40):
            s = await a.uploads.create(
                TENANT, backend.service_id, NewSession(f"s{n}.bin", "root", 3)
            )
            await upload_part(a.uploads, TENANT, s.id, 0, body(b"abc"), 3, None)
        clock.now += timedelta(hours=2)
        first, second = await asyncio.gather(a.reaper.run_once(), b.reaper.run_once())
        assert first.expired + second.expired == 40
        assert first.bytes_freed + second.bytes_freed == 120
        assert backend.stored_keys() == set()

    run(scenario(), a, b)


def test_orphan_sweep_respects_the_grace_period(backend: Backend, clock: Clock) -> None:
    services = reaping_services(backend, clock)

    async def scenario() -> None:
        uploads = services.uploads
        session = await uploads.create(TENANT, backend.service_id, NewSession("o.bin", "root", 1))
        # What a crash between preparing an object and inserting its row leaves behind.
        stray = "obj_00000000000000000000dead"
        await uploads.storage(backend.service_id).begin(stray)
        real_now = datetime.now(UTC)
        clock.now = real_now + timedelta(seconds=30)  # still within the 60 s grace
        assert await services.reaper.sweep_orphans() == 0
        assert backend.stored_keys() == {session.storage_key, stray}
        clock.now = real_now + timedelta(hours=1)
        assert await services.reaper.sweep_orphans() == 1
        assert backend.stored_keys() == {session.storage_key}

    run(scenario(), services)
