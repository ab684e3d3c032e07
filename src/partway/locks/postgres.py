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
        key = advisory_key(f"session:{session_id}")
        return self._hold(("lock_shared",), (key,), "the upload session")

    def session_exclusive(self, session_id: str) -> contextlib.AbstractAsyncContextManager[None]:
        key = advisory_key(f"session:{session_id}")
        return self._hold(("lock",), (key,), "the upload session")

    def part(self, session_id: str, start: int) -> contextlib.AbstractAsyncContextManager[None]:
        # Both on one connection, in one statement each way: half the round trips and pooled
        # connections of two separate locks. The session lock comes first, as everywhere.
        keys = (advisory_key(f"session:{session_id}"), advisory_key(f"range:{session_id}:{start}"))
        what = f"the upload session or its range at byte {start}"
        return self._hold(("lock_shared", "lock"), keys, what)

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
    async def _hold(
        self, kinds: tuple[str, ...], keys: tuple[int, ...], what: str
    ) -> AsyncIterator[None]:
        """Advisory locks `pg_advisory_<kind>(key)`, taken in order in one statement and
        released in reverse in another, on one pooled connection."""
        take = "SELECT " + ", ".join(f"pg_advisory_{kind}(%s)" for kind in kinds)
        release = "SELECT " + ", ".join(
            f"pg_advisory_{kind.replace('lock', 'unlock')}(%s)" for kind in reversed(kinds)
        )
        pool = await self._pool.get()
        try:
            conn = await pool.getconn(timeout=self._timeout)
        except PoolTimeout:
            raise Busy(f"{what} is busy: no lock connection free; retry later") from None
        try:
            try:
                await conn.execute(take, keys)
            except BaseException as exc:
                # Busy (lock_timeout), cancelled or broken mid-wait: some of the locks may be
                # ours; closing the connection releases whatever is.
                await conn.close()
                if isinstance(exc, psycopg.errors.LockNotAvailable):
                    raise Busy(f"{what} is busy with another request; retry later") from None
                raise
            try:
                yield
            finally:
                try:
                    await conn.execute(release, keys[::-1])
                except BaseException:
                    await conn.close()
                    raise
        finally:
            await pool.putconn(conn)
