"""The Locks contract, run on the memory locks (one process), file locks (one host) and
PostgreSQL advisory locks (several hosts). Two clients stand for two server processes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from partway.domain.errors import Busy
from partway.domain.models import new_id
from partway.domain.ports import Locks


def test_part_locks_exclude_the_same_start_only(locks_factory: Callable[[], Locks]) -> None:
    async def scenario() -> None:
        a, b = locks_factory(), locks_factory()
        sid = new_id("ses")
        try:
            async with a.part(sid, 0):
                async with b.session_shared(sid), b.part(sid, 8), b.part(sid, 1 << 40):
                    pass  # other starts, and a shared session lock, are free
                with pytest.raises(Busy):
                    async with b.part(sid, 0):
                        pass
                with pytest.raises(Busy):
                    async with b.session_exclusive(sid):
                        pass  # a part holds the session shared
            async with b.part(sid, 0):
                pass  # released
        finally:
            await a.close()
            await b.close()

    asyncio.run(scenario())


def test_a_part_lock_refused_its_range_holds_nothing(locks_factory: Callable[[], Locks]) -> None:
    """Its session lock comes first: when the range then cannot be had, that goes too (on
    PostgreSQL both are taken in one statement, and a half-taken pair must not stay)."""

    async def scenario() -> None:
        a, b = locks_factory(), locks_factory()
        sid = new_id("ses")
        try:
            async with a.part(sid, 0):
                with pytest.raises(Busy):
                    async with b.part(sid, 0):
                        pass
            async with a.session_exclusive(sid):
                pass  # b holds no shared session lock
            async with b.session_exclusive(sid):
                pass
        finally:
            await a.close()
            await b.close()

    asyncio.run(scenario())


def test_the_exclusive_session_lock_waits_for_range_writers(
    locks_factory: Callable[[], Locks],
) -> None:
    async def scenario() -> None:
        a, b = locks_factory(), locks_factory()
        sid = new_id("ses")
        order: list[str] = []
        try:
            async with a.session_shared(sid):
                with pytest.raises(Busy):
                    async with b.session_exclusive(sid):
                        pass

            async def finish() -> None:
                async with b.session_exclusive(sid):
                    order.append("finish")
                    await asyncio.sleep(0.05)

            async def writer() -> None:
                await asyncio.sleep(0.01)
                async with a.session_shared(sid):
                    order.append("write")

            await asyncio.gather(finish(), writer())
            assert order == ["finish", "write"]
            await a.forget(sid)
            await b.forget(sid)
        finally:
            await a.close()
            await b.close()

    asyncio.run(scenario())
