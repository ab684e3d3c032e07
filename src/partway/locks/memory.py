"""Locks for one process, for tests on the fakes: the Locks contract with asyncio primitives.

A session lock is a readers-writer lock (many range writers, or one finish or abort); a range
lock is a mutex. Waiting past `timeout` raises Busy, as the file and PostgreSQL locks do.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from ..domain.errors import Busy


@dataclass
class _SessionLock:
    readers: int = 0
    writer: bool = False
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)


class MemoryLocks:
    def __init__(self, timeout: float = 120.0) -> None:
        self._timeout = timeout
        self._sessions: dict[str, _SessionLock] = {}
        self._ranges: dict[tuple[str, int], asyncio.Lock] = {}

    def session_shared(self, session_id: str) -> contextlib.AbstractAsyncContextManager[None]:
        return self._session(session_id, shared=True)

    def session_exclusive(self, session_id: str) -> contextlib.AbstractAsyncContextManager[None]:
        return self._session(session_id, shared=False)

    @contextlib.asynccontextmanager
    async def part(self, session_id: str, start: int) -> AsyncIterator[None]:
        async with self._session(session_id, shared=True):
            lock = self._ranges.setdefault((session_id, start), asyncio.Lock())
            try:
                await asyncio.wait_for(lock.acquire(), self._timeout)
            except TimeoutError:
                raise Busy(f"the range at byte {start} is busy with another request") from None
            try:
                yield
            finally:
                lock.release()

    @contextlib.asynccontextmanager
    async def _session(self, session_id: str, shared: bool) -> AsyncIterator[None]:
        state = self._sessions.setdefault(session_id, _SessionLock())

        def free() -> bool:
            return not state.writer and (shared or state.readers == 0)

        async with state.changed:
            try:
                await asyncio.wait_for(state.changed.wait_for(free), self._timeout)
            except TimeoutError:
                raise Busy("the upload session is busy with another request") from None
            if shared:
                state.readers += 1
            else:
                state.writer = True
        try:
            yield
        finally:
            async with state.changed:
                if shared:
                    state.readers -= 1
                else:
                    state.writer = False
                state.changed.notify_all()

    async def forget(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)
        for key in [k for k in self._ranges if k[0] == session_id]:
            del self._ranges[key]

    async def close(self) -> None:
        pass
