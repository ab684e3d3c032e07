"""Running SQL off the event loop, in read or write transactions."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.engine import Connection, Engine

from .engine import WRITE

T = TypeVar("T")


class SqlBase:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        # SQLite has one writer at a time, and a writer that finds the lock taken sleeps in
        # steps of up to 100 ms. Queueing this process's writers on a mutex avoids those sleeps;
        # other processes still meet the busy timeout.
        self._serialize_writes = engine.dialect.name == "sqlite"
        self._write_mutex = threading.Lock()
        self._inline = threading.local()

    async def _read(self, work: Callable[[Connection], T], small: bool = False) -> T:
        """`small`: a lookup of a row or two. On SQLite those run right here: a WAL reader never
        waits for a writer, the query takes ~70 µs, and the hop to a worker thread and back
        would cost ~400 µs (measured), several times per part upload."""
        if small and self._serialize_writes:
            return self._run_inline(work)
        return await asyncio.to_thread(self._run, work, False)

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

    async def _write(self, work: Callable[[Connection], T]) -> T:
        return await asyncio.to_thread(self._run, work, True)

    def _run(self, work: Callable[[Connection], T], write: bool) -> T:
        if write and self._serialize_writes:
            with self._write_mutex:
                return self._transaction(work, write)
        return self._transaction(work, write)

    def _transaction(self, work: Callable[[Connection], T], write: bool) -> T:
        with self._engine.connect() as conn:
            conn.execution_options(**{WRITE: write})
            with conn.begin():
                return work(conn)
