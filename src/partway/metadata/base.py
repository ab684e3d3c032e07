"""Running SQL off the event loop, in read or write transactions."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..threads import SQL
from .engine import WRITE
from .group_commit import GroupCommit

T = TypeVar("T")


class _OtherWriter(Exception):
    """Another connection holds SQLite's write lock."""


class TooManyRows(Exception):
    """A read on the event loop met more rows than it may read there (INLINE_ROWS)."""


# Rows a consistent read may read on the event loop (_read_consistent): a session's ranges up to
# this many cost ~0.3 ms there; a session of more parts is read in a worker thread.
INLINE_ROWS = 64


# Per engine, its write mutex and (SQLite) group-commit thread, shared by every repository on it
# (sessions, webhook deliveries, subscriptions): one writer per process, and one thread.
_WRITERS: weakref.WeakKeyDictionary[Engine, tuple[threading.Lock, GroupCommit | None]] = (
    weakref.WeakKeyDictionary()
)
_WRITERS_LOCK = threading.Lock()


def _writers(engine: Engine) -> tuple[threading.Lock, GroupCommit | None]:
    with _WRITERS_LOCK:
        found = _WRITERS.get(engine)
        if found is None:
            mutex = threading.Lock()
            group = GroupCommit(engine, mutex) if engine.dialect.name == "sqlite" else None
            found = _WRITERS[engine] = (mutex, group)
        return found


class SqlBase:
    def __init__(self, engine: Engine, durable: bool = True) -> None:
        """`durable`: commits wait for the disk (SQLite synchronous=FULL, see engine.py)."""
        self._engine = engine
        # SQLite has one writer at a time, and a writer that finds the lock taken sleeps in
        # steps of up to 100 ms. This process's writers queue for one thread instead (group
        # commit) or, inline, for its mutex; other processes still meet the busy timeout.
        self._serialize_writes = engine.dialect.name == "sqlite"
        self._write_mutex, self._group = _writers(engine)
        self._inline = threading.local()
        # A commit that does not wait for the disk takes ~0.3 ms: small ones may run inline.
        self._inline_writes = self._serialize_writes and not durable

    async def _read(self, work: Callable[[Connection], T], small: bool = False) -> T:
        """`small`: a lookup of a row or two, each statement a read transaction of its own
        (callers read one row, or rows that the locks they hold keep still). On SQLite those
        run right here: a WAL reader never waits for a writer, the query takes ~70 µs, and the
        hop to a worker thread and back would cost ~400 µs (measured), several times per part
        upload. On PostgreSQL in autocommit: a lookup is one round trip, not three (BEGIN, the
        query, COMMIT)."""
        if small and self._serialize_writes:
            return self._run_inline(work)
        if small:
            return await self._autocommit(work)
        return await SQL.run(self._run, work, False)

    async def _read_consistent(self, work: Callable[[Connection, bool], T]) -> T:
        """Statements that must see one state of the database (a session and its ranges), and
        mostly read a few rows. On SQLite they run first right here, in one WAL read transaction
        (a reader never waits for a writer), with `bounded` True: read at most INLINE_ROWS rows,
        else raise TooManyRows. Without the hop to a worker thread and back, a GET of a session
        took ~350 µs of server CPU instead of ~540 (measured). After TooManyRows, and always on
        PostgreSQL, `work` runs in a worker thread with `bounded` False."""
        if self._serialize_writes:

            def inline(c: Connection) -> T:
                c.exec_driver_sql("BEGIN")  # _run_inline's rollback ends it
                return work(c, True)

            try:
                return self._run_inline(inline)
            except TooManyRows:
                pass
        return await SQL.run(self._run, lambda c: work(c, False), False)

    async def _autocommit(self, work: Callable[[Connection], T]) -> T:
        """PostgreSQL, in a worker thread: each statement of `work` a transaction of its own
        (a small read, or a write that is one statement)."""
        return await SQL.run(self._run_autocommit, work)

    def _run_autocommit(self, work: Callable[[Connection], T]) -> T:
        with self._engine.connect() as conn:
            return work(conn.execution_options(isolation_level="AUTOCOMMIT"))

    def _run_inline(self, work: Callable[[Connection], T]) -> T:
        """On this thread's own connection, each statement its own read transaction: no pool
        checkout, no BEGIN/COMMIT (together ~45 % of a session lookup, py-spy). Callers read
        one row, or rows that the locks they hold keep still."""
        conn: Connection | None = getattr(self._inline, "conn", None)
        if conn is None or conn.closed or conn.invalidated:
            conn = self._inline.conn = self._engine.connect().execution_options(**{WRITE: None})
        try:
            return work(conn)
        finally:
            conn.rollback()  # ends SQLAlchemy's bookkeeping; SQLite has no transaction open

    def close(self) -> None:
        conn: Connection | None = getattr(self._inline, "conn", None)
        if conn is not None:
            conn.close()
        writer: Connection | None = getattr(self._inline, "writer", None)
        if writer is not None:
            writer.invalidate()  # not back into the pool with a zero busy timeout
        if self._group is not None:
            self._group.close()

    async def _write(self, work: Callable[[Connection], T], small: bool = False) -> T:
        """`small`: a row or two (recording a part). On SQLite without fsync, if neither this
        process nor another is writing, it commits right here: under load the hops to a worker
        thread and back took ~3 ms of a part's ~4 ms to record (measured), time in which the
        part's connection sits idle. Otherwise, on SQLite, it joins the next group commit
        (group_commit.py); on PostgreSQL it runs in a worker thread."""
        if small and self._inline_writes and self._write_mutex.acquire(blocking=False):
            try:
                return self._inline_write(work)
            except _OtherWriter:
                pass
            finally:
                self._write_mutex.release()
        if self._group is not None:
            # The request keeps its fair-share turn while it waits for the commit's fsync.
            # Giving it up meanwhile (as disk threads do) let 1,000 uploads' requests run on
            # the loop at once: another tenant's p99 went from 77-85 ms to 195-322 (bench.slow).
            result: T = await self._group.submit(work)
            return result
        return await SQL.run(self._run, work, True)

    def _inline_write(self, work: Callable[[Connection], T]) -> T:
        """Raises _OtherWriter at once, not after a busy timeout, if another process holds the
        write lock."""
        conn: Connection | None = getattr(self._inline, "writer", None)
        if conn is None or conn.closed or conn.invalidated:
            conn = self._engine.connect().execution_options(**{WRITE: None})  # no BEGIN yet
            conn.exec_driver_sql("PRAGMA busy_timeout=0")
            conn.rollback()
            conn = self._inline.writer = conn.execution_options(**{WRITE: True})
        try:
            transaction = conn.begin()  # BEGIN IMMEDIATE: takes the write lock or fails
        except sa.exc.OperationalError:
            # A fresh connection next time rather than a half-begun one; this one must not go
            # back to the pool with its zero busy timeout.
            conn.invalidate()
            self._inline.writer = None
            raise _OtherWriter() from None
        with transaction:
            return work(conn)

    def _run(self, work: Callable[[Connection], T], write: bool) -> T:
        with self._engine.connect() as conn:
            conn.execution_options(**{WRITE: write})
            with conn.begin():
                return work(conn)
