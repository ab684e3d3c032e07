"""Worker-thread sets: sized from the settings at start, work in flight unharmed by a resize."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from partway.metadata.base import SqlBase
from partway.threads import DISK, Threads


def test_resize_sets_the_bound_and_lets_running_calls_finish() -> None:
    threads = Threads("test", 8)
    release = threading.Event()

    async def scenario() -> list[str]:
        running = asyncio.ensure_future(threads.run(release.wait, 5))
        await asyncio.sleep(0.05)
        threads.resize(1)
        names: set[str] = set()

        def note() -> None:
            names.add(threading.current_thread().name)

        await asyncio.gather(*(threads.run(note) for _ in range(20)))
        release.set()
        assert await running
        return sorted(names)

    assert asyncio.run(scenario()) == ["partway-test_0"]  # one thread of the new set did all
    assert threads.size == 1


def test_repositories_on_one_engine_share_one_sqlite_writer() -> None:
    engine = sa.create_engine("sqlite://")
    first, second = SqlBase(engine), SqlBase(engine)
    other = SqlBase(sa.create_engine("sqlite://"))
    assert first._group is not None and first._group is second._group
    assert first._write_mutex is second._write_mutex
    assert other._group is not first._group


def test_a_new_upload_file_never_waits_behind_flushes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With two flushes that take as long as the disk does, on the disk threads (2, the
    default), a new upload's file is still created at once: flushes never take the last one."""
    from partway.storage import local

    flushing = threading.Event()
    release = threading.Event()

    def slow_fdatasync(fd: int) -> None:
        flushing.set()
        release.wait(10)

    monkeypatch.setattr(os, "fdatasync", slow_fdatasync)
    storage = local.LocalStorage(tmp_path, fsync=True)
    DISK.resize(2)

    async def scenario() -> float:
        writers = []
        for n in range(2):
            key = f"obj_{n:024x}"
            await storage.begin(key)
            fd = os.open(tmp_path / "objects" / key, os.O_RDWR)
            writers.append(local.LocalWriter(fd, 0, True))
        flushes = [asyncio.ensure_future(w.commit()) for w in writers]
        await asyncio.to_thread(flushing.wait, 5)
        began = time.monotonic()
        await asyncio.wait_for(storage.begin("obj_" + "f" * 24), 5)
        took = time.monotonic() - began
        release.set()
        await asyncio.gather(*flushes)
        for w in writers:
            await w.close()
        return took

    try:
        assert asyncio.run(scenario()) < 1.0
    finally:
        release.set()
        DISK.resize(16)
