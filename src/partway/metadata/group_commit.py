"""SQLite writes of one process, run by one thread, many to a transaction (group commit).

SQLite has one writer at a time. With a worker thread per write, queued on a mutex, every write
paid its own commit (an fsync when durable) and, under a burst of creates, dozens of threads
contended for the mutex and the GIL: 1,000 concurrent creates ran at ~30 a second, with a
p99 in seconds. Here the writes that queue while one transaction commits go into the next one
together, each in a savepoint of its own so that one failing write undoes only itself; every
waiter learns its outcome once the commit (and its fsync) is done, in the order the writes came.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import weakref
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection, Engine

from .engine import WRITE

# A batch is cut at this many writes, so one slow batch cannot hold every waiter behind it.
MAX_BATCH = 64


@dataclass(frozen=True)
class _Job:
    work: Callable[[Connection], Any]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


_Outcome = tuple[bool, Any]  # (succeeded, result or exception)


class GroupCommit:
    def __init__(self, engine: Engine, mutex: threading.Lock) -> None:
        """`mutex`: this process's SQLite write lock, held for each batch (inline writers share
        it)."""
        # Weak: the engine's repositories share this writer through a weak-keyed map
        # (base.py), which must not keep their engine alive; its connection does while open.
        self._engine = weakref.ref(engine)
        self._mutex = mutex
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()
        self._conn: Connection | None = None

    def submit(self, work: Callable[[Connection], Any]) -> asyncio.Future[Any]:
        """Queue `work` (called with the connection, inside the batch's transaction); the future
        resolves on the caller's loop after the commit."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._ensure_thread()
        self._jobs.put(_Job(work, future, loop))
        return future

    def _ensure_thread(self) -> None:
        if self._thread is not None:
            return
        with self._start:
            if self._thread is None:
                thread = threading.Thread(
                    target=self._serve, name="partway-sql-writer", daemon=True
                )
                thread.start()
                self._thread = thread

    def close(self) -> None:
        """Finish the queued writes, then stop the thread and release its connection."""
        thread = self._thread
        if thread is not None:
            self._jobs.put(None)
            thread.join(timeout=30)
            self._thread = None

    def _serve(self) -> None:
        try:
            while True:
                job = self._jobs.get()
                if job is None:
                    return
                batch = [job]
                while len(batch) < MAX_BATCH:
                    try:
                        more = self._jobs.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        self._jobs.put(None)  # stop after this batch
                        break
                    batch.append(more)
                with self._mutex:
                    outcomes = self._commit(batch)
                _deliver(batch, outcomes)
        finally:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _connection(self) -> Connection:
        conn = self._conn
        if conn is None or conn.closed or conn.invalidated:
            engine = self._engine()
            if engine is None:
                raise RuntimeError("the metadata engine is gone")
            conn = self._conn = engine.connect().execution_options(**{WRITE: True})
        return conn

    def _commit(self, batch: list[_Job]) -> list[_Outcome]:
        """Run the batch in one transaction; if that transaction cannot begin or commit, each
        write on its own, so one cause reaches only its own waiter."""
        try:
            conn = self._connection()
            transaction = conn.begin()
            if len(batch) == 1:
                try:
                    outcomes: list[_Outcome] = [(True, batch[0].work(conn))]
                except Exception as exc:
                    transaction.rollback()
                    return [(False, exc)]
            else:
                outcomes = [_in_savepoint(conn, job) for job in batch]
            transaction.commit()
            return outcomes
        except Exception as exc:
            # SQLite may leave the transaction open after a failed COMMIT (a deferred
            # constraint); a fresh connection rather than one in an unknown state.
            if self._conn is not None:
                self._conn.invalidate()
                self._conn = None
            if len(batch) == 1:
                return [(False, exc)]
            return [outcome for job in batch for outcome in self._commit([job])]


def _in_savepoint(conn: Connection, job: _Job) -> _Outcome:
    savepoint = conn.begin_nested()
    try:
        result = job.work(conn)
    except Exception as exc:
        savepoint.rollback()
        return (False, exc)
    savepoint.commit()
    return (True, result)


def _deliver(batch: list[_Job], outcomes: list[_Outcome]) -> None:
    """One wake-up per event loop for the whole batch."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Job, _Outcome]]] = defaultdict(list)
    for job, outcome in zip(batch, outcomes, strict=True):
        by_loop[job.loop].append((job, outcome))
    for loop, pairs in by_loop.items():
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits for these
            loop.call_soon_threadsafe(_resolve, pairs)


def _resolve(pairs: list[tuple[_Job, _Outcome]]) -> None:
    for job, (succeeded, value) in pairs:
        if job.future.done():  # the waiter was cancelled
            continue
        if succeeded:
            job.future.set_result(value)
        else:
            job.future.set_exception(value)
