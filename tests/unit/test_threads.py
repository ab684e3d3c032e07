"""Worker-thread sets: sized from the settings at start, work in flight unharmed by a resize."""

from __future__ import annotations

import asyncio
import threading

import sqlalchemy as sa

from partway.metadata.base import SqlBase
from partway.threads import Threads


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
