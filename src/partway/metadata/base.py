"""Running SQL off the event loop, in read or write transactions."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.engine import Connection, Engine

from .engine import WRITE

T = TypeVar("T")


class SqlBase:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def _read(self, work: Callable[[Connection], T]) -> T:
        return await asyncio.to_thread(self._run, work, False)

    async def _write(self, work: Callable[[Connection], T]) -> T:
        return await asyncio.to_thread(self._run, work, True)

    def _run(self, work: Callable[[Connection], T], write: bool) -> T:
        with self._engine.connect() as conn:
            conn.execution_options(**{WRITE: write})
            with conn.begin():
                return work(conn)
