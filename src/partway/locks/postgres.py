"""Locks for several hosts: PostgreSQL advisory locks, each held on its own pooled connection.

The database drops a lock when its connection ends, so an instance that dies (or is cut off)
cannot leave a session locked. Waiting happens in the server (no polling); `lock_timeout`
bounds it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from ..domain.errors import Busy
from ..metadata.engine import advisory_key, libpq_url
from ..perloop import PerLoop


class PgLocks:
    def __init__(self, url: str, timeout: float = 120.0, max_connections: int = 64) -> None:
        self._url = libpq_url(url)
        self._timeout = timeout
        self._max = max_connections
        self._pool = PerLoop(self._open_pool)

    def session_shared(self, session_id: str) -> contextlib.AbstractAsyncContextManager[None]:
        return self._hold(f"session:{session_id}", True, "the upload session")

    def session_exclusive(self, session_id: str) -> contextlib.AbstractAsyncContextManager[None]:
        return self._hold(f"session:{session_id}", False, "the upload session")

    def range(self, session_id: str, start: int) -> contextlib.AbstractAsyncContextManager[None]:
        return self._hold(f"range:{session_id}:{start}", False, f"the range at byte {start}")

    async def forget(self, session_id: str) -> None:
        pass  # advisory locks leave nothing behind

    async def close(self) -> None:
        pool = self._pool.take()
        if pool is not None:
            await pool.close()

    async def _open_pool(self) -> AsyncConnectionPool:
        milliseconds = int(self._timeout * 1000)
        pool = AsyncConnectionPool(
            self._url,
            min_size=1,
            max_size=self._max,
            kwargs={"autocommit": True, "options": f"-c lock_timeout={milliseconds}"},
            open=False,
        )
        await pool.open()
        return pool

    @contextlib.asynccontextmanager
    async def _hold(self, name: str, shared: bool, what: str) -> AsyncIterator[None]:
        suffix = "_shared" if shared else ""
        key = advisory_key(name)
        pool = await self._pool.get()
        try:
            conn = await pool.getconn(timeout=self._timeout)
        except PoolTimeout:
            raise Busy(f"{what} is busy: no lock connection free; retry later") from None
        try:
            try:
                await conn.execute(f"SELECT pg_advisory_lock{suffix}(%s)", (key,))
            except psycopg.errors.LockNotAvailable:
                raise Busy(f"{what} is busy with another request; retry later") from None
            except BaseException:
                # Cancelled or broken mid-wait: the lock may or may not be ours; closing the
                # connection settles it either way.
                await conn.close()
                raise
            try:
                yield
            finally:
                try:
                    await conn.execute(f"SELECT pg_advisory_unlock{suffix}(%s)", (key,))
                except BaseException:
                    await conn.close()
                    raise
        finally:
            await pool.putconn(conn)
