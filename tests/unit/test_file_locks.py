"""FileLocks: the exclusion the upload service relies on, between holders that do not share an
open file (as two server processes would not)."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from multiprocessing.synchronize import Event as EventType
from pathlib import Path

import pytest

from partway.domain.errors import Busy
from partway.domain.models import new_id
from partway.locks.files import FileLocks


def locks(tmp_path: Path, timeout: float = 0.1) -> FileLocks:
    return FileLocks(tmp_path / "locks", timeout=timeout)


def test_a_part_is_held_by_one_request_at_a_time_and_other_parts_stay_free(
    tmp_path: Path,
) -> None:
    sid = new_id("ses")

    async def scenario() -> None:
        first, second = locks(tmp_path), locks(tmp_path)
        async with first.part(sid, 3):
            # Other parts and the shared session lock are free beside it.
            async with second.session_shared(sid), second.part(sid, 2), second.part(sid, 4):
                pass
            with pytest.raises(Busy, match="byte 3"):
                async with second.part(sid, 3):
                    pass
            with pytest.raises(Busy, match="session"):
                async with second.session_exclusive(sid):
                    pass
        # Released on leaving: both are free again.
        async with second.session_exclusive(sid):
            pass
        async with second.part(sid, 3):
            pass

    asyncio.run(scenario())


def test_a_waiter_gets_the_part_once_its_holder_lets_go(tmp_path: Path) -> None:
    sid = new_id("ses")
    order: list[str] = []

    async def hold(name: str) -> None:
        async with locks(tmp_path, timeout=5).part(sid, 0):
            order.append(f"{name} in")
            await asyncio.sleep(0.05)
            order.append(f"{name} out")

    async def scenario() -> None:
        await asyncio.gather(hold("a"), hold("b"))

    asyncio.run(scenario())
    assert order in (["a in", "a out", "b in", "b out"], ["b in", "b out", "a in", "a out"])


def _hold_part_in_child(directory: str, sid: str, ready: EventType) -> None:
    async def hold() -> None:
        async with FileLocks(Path(directory)).part(sid, 7):
            ready.set()
            await asyncio.sleep(60)

    asyncio.run(hold())


def test_a_killed_holder_releases_its_part(tmp_path: Path) -> None:
    sid = new_id("ses")
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    child = context.Process(target=_hold_part_in_child, args=(str(tmp_path / "locks"), sid, ready))
    child.start()
    try:
        assert ready.wait(30)

        async def try_part() -> None:
            async with locks(tmp_path).part(sid, 7):
                pass

        with pytest.raises(Busy):
            asyncio.run(try_part())
    finally:
        child.kill()
        child.join()
    asyncio.run(try_part())


def test_forget_removes_the_session_file_and_ids_never_steer_a_path(tmp_path: Path) -> None:
    sid = new_id("ses")
    store = locks(tmp_path)

    async def scenario() -> None:
        async with store.part(sid, 1):
            pass
        assert os.listdir(tmp_path / "locks") == [f"{sid}.lock"]
        await store.forget(sid)
        assert os.listdir(tmp_path / "locks") == []
        with pytest.raises(ValueError):
            async with store.session_shared("../../etc/passwd"):
                pass

    asyncio.run(scenario())
