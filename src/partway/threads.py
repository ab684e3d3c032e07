"""Bounded sets of worker threads, one per kind of blocking work.

Kinds are kept apart so that one cannot starve another: under write-back pressure an fdatasync
can block for seconds, and when metadata reads queued behind 64 of those in one shared pool, a
GET of a session took 15 s at the 90th percentile under 1,000 slow uploads (measured).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from .fair_share import stepped_aside

P = ParamSpec("P")
T = TypeVar("T")


class Threads:
    def __init__(self, name: str, size: int, steps_aside: bool = False) -> None:
        """`steps_aside`: a call here waits on the disk, not on the event loop's time, so its
        request gives its turn up meanwhile (fair_share.py)."""
        self.name = name
        self.size = size
        self._steps_aside = steps_aside
        self.executor = ThreadPoolExecutor(size, f"partway-{name}")  # threads start on demand

    def resize(self, size: int) -> None:
        """Serve with `size` threads from now on (a server sets its pools from its settings at
        start); calls already running finish on the old threads."""
        if size == self.size:
            return
        old, self.size = self.executor, size
        self.executor = ThreadPoolExecutor(size, f"partway-{self.name}")
        old.shutdown(wait=False)

    async def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        call = functools.partial(fn, *args, **kwargs)
        if not self._steps_aside:
            return await loop.run_in_executor(self.executor, call)
        async with stepped_aside():
            return await loop.run_in_executor(self.executor, call)

    def queued(self) -> int:
        """Calls waiting for a thread (0 if a Python version renames the private queue)."""
        work = getattr(self.executor, "_work_queue", None)
        return work.qsize() if work is not None else 0


# fdatasync, file creation, reads and writes: may block for seconds while the disk catches up
# (a file's creation waits for the journal, which under 1,000 uploads' writeback took ~1 ms
# a create on the event loop, measured with py-spy). The sizes here are defaults; a server sets
# them from its settings (disk_threads, sql_threads).
DISK = Threads("disk", 16, steps_aside=True)
# Metadata queries that do not run on the event loop: SQLite's larger reads (lookups run on the
# loop, writes in the group-commit thread), and every PostgreSQL query, which may wait on a row
# lock; threads start on demand, so a SQLite server rarely has more than a few.
SQL = Threads("sql", 24)
# Shared-link password checks (scrypt, ~40 ms of CPU and 16 MiB each): on the event loop, 100
# wrong guesses at once stalled every other request for 11 s (measured). Two threads, one per
# core of the smallest host: a flood of guesses queues behind itself and slows nothing else.
KDF = Threads("kdf", 2)
# Everything else (hashing, rendering metrics) runs on the loop's default executor, one such
# set per served app (see app.py).
OTHER_THREADS = 8
