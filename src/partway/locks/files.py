"""Cross-process locks for one machine: flock(2) on small files, polled so a waiter can give up.

flock locks belong to the open file description, so they exclude threads of one process as well
as separate server processes, and the kernel drops them when a process dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

from ..domain.errors import Busy


class FileLocks:
    def __init__(self, directory: Path, timeout: float = 120.0) -> None:
        self._dir = directory
        self._dir.mkdir(parents=True, exist_ok=True)
        self._timeout = timeout

    def session_shared(self, session_id: str) -> contextlib.AbstractAsyncContextManager[None]:
        return self._hold(f"{session_id}.lock", fcntl.LOCK_SH, "the upload session")

    def session_exclusive(self, session_id: str) -> contextlib.AbstractAsyncContextManager[None]:
        return self._hold(f"{session_id}.lock", fcntl.LOCK_EX, "the upload session")

    def part(self, session_id: str, number: int) -> contextlib.AbstractAsyncContextManager[None]:
        return self._hold(f"{session_id}.p{number}.lock", fcntl.LOCK_EX, f"part {number}")

    async def forget(self, session_id: str) -> None:
        for path in self._dir.glob(f"{session_id}.*lock"):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    async def close(self) -> None:
        pass

    @contextlib.asynccontextmanager
    async def _hold(self, name: str, mode: int, what: str) -> AsyncIterator[None]:
        fd = os.open(self._dir / name, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            await self._acquire(fd, mode, what)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    async def _acquire(self, fd: int, mode: int, what: str) -> None:
        deadline = time.monotonic() + self._timeout
        delay = 0.002
        while True:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise Busy(f"{what} is busy with another request; retry later") from None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.05)
