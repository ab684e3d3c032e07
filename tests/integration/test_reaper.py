"""The reaper with an injectable clock: expired bytes really leave the disk, exactly once."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from partway.app import build_services, open_metadata
from partway.config import Settings
from partway.domain.errors import NameTaken, NotFound
from partway.domain.models import NewSession
from partway.http.context import Services

from .helpers import TENANT, Clock, body

HOUR = 3600


def make_services(tmp_path: Path, clock: Clock) -> Services:
    settings = Settings(
        data_dir=tmp_path,
        fsync=False,
        session_ttl_seconds=HOUR,
        finished_retention_seconds=HOUR,
        orphan_grace_seconds=60,
    )
    return build_services(settings, open_metadata(settings), clock)


def objects(tmp_path: Path) -> set[str]:
    return set(os.listdir(tmp_path / "objects"))


def test_expired_session_bytes_are_gone(tmp_path: Path, clock: Clock) -> None:
    services = make_services(tmp_path, clock)
    uploads = services.uploads

    async def scenario() -> None:
        session = await uploads.create(TENANT, "local", NewSession("old.bin", "root", 5))
        await uploads.upload_part(TENANT, session.id, 0, body(b"12345"), 5, None)
        kept = await uploads.create(TENANT, "local", NewSession("fresh.bin", "root", 5))
        assert session.storage_key in objects(tmp_path)

        clock.now += timedelta(minutes=30)
        await uploads.upload_part(TENANT, kept.id, 0, body(b"12345"), 5, None)
        clock.now += timedelta(minutes=31)
        report = await services.reaper.run_once()
        assert (report.expired, report.bytes_freed) == (1, 5)
        assert session.storage_key not in objects(tmp_path)
        assert kept.storage_key in objects(tmp_path)
        with pytest.raises(NotFound, match="expired"):
            await uploads.get(TENANT, session.id)
        # The name is free again.
        await uploads.create(TENANT, "local", NewSession("old.bin", "root", 5))

        # The first tombstone (expired an hour ago) goes; the two newly expired stay a while.
        clock.now += timedelta(minutes=70)
        report = await services.reaper.run_once()
        assert (report.expired, report.purged_rows) == (2, 1)
        clock.now += timedelta(hours=3)
        assert (await services.reaper.run_once()).purged_rows == 2

    asyncio.run(scenario())


def test_finished_file_outlives_its_session(tmp_path: Path, clock: Clock) -> None:
    services = make_services(tmp_path, clock)
    uploads = services.uploads

    async def scenario() -> None:
        session = await uploads.create(TENANT, "local", NewSession("keep.bin", "root", 2))
        await uploads.upload_part(TENANT, session.id, 0, body(b"ok"), 2, None)
        entry = await uploads.finish(TENANT, session.id, None)
        clock.now += timedelta(hours=2)
        report = await services.reaper.run_once()
        assert report.expired == 0 and report.purged_rows == 1
        with pytest.raises(NotFound):
            await uploads.get(TENANT, session.id)
        assert entry.storage_key in objects(tmp_path)
        assert (tmp_path / "objects" / str(entry.storage_key)).read_bytes() == b"ok"

    asyncio.run(scenario())


def test_expired_holder_does_not_block_its_name(tmp_path: Path, clock: Clock) -> None:
    uploads = make_services(tmp_path, clock).uploads

    async def scenario() -> None:
        first = await uploads.create(TENANT, "local", NewSession("n.bin", "root", 1))
        with pytest.raises(NameTaken):
            await uploads.create(TENANT, "local", NewSession("n.bin", "root", 1))
        clock.now += timedelta(hours=2)
        second = await uploads.create(TENANT, "local", NewSession("n.bin", "root", 1))
        assert second.id != first.id and first.storage_key not in objects(tmp_path)

    asyncio.run(scenario())


def test_two_reapers_on_one_store_reap_each_session_once(tmp_path: Path, clock: Clock) -> None:
    a, b = make_services(tmp_path, clock), make_services(tmp_path, clock)

    async def scenario() -> None:
        for n in range(40):
            s = await a.uploads.create(TENANT, "local", NewSession(f"s{n}.bin", "root", 3))
            await a.uploads.upload_part(TENANT, s.id, 0, body(b"abc"), 3, None)
        clock.now += timedelta(hours=2)
        first, second = await asyncio.gather(a.reaper.run_once(), b.reaper.run_once())
        assert first.expired + second.expired == 40
        assert first.bytes_freed + second.bytes_freed == 120
        assert objects(tmp_path) == set()

    asyncio.run(scenario())


def test_orphan_sweep_respects_the_grace_period(tmp_path: Path, clock: Clock) -> None:
    services = make_services(tmp_path, clock)

    async def scenario() -> None:
        session = await services.uploads.create(TENANT, "local", NewSession("o.bin", "root", 1))
        stray_old = tmp_path / "objects" / "obj_00000000000000000000dead"
        stray_new = tmp_path / "objects" / "obj_00000000000000000000beef"
        stray_old.write_bytes(b"x")
        stray_new.write_bytes(b"y")
        real_now = datetime.now(UTC)
        old = (real_now - timedelta(hours=1)).timestamp()
        os.utime(stray_old, (old, old))
        os.utime(tmp_path / "objects" / session.storage_key, (old, old))
        clock.now = real_now
        assert await services.reaper.sweep_orphans() == 1
        assert objects(tmp_path) == {session.storage_key, stray_new.name}

    asyncio.run(scenario())
