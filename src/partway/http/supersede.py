"""A newer request for an upload stops an older append still running for it, on this instance
and on the others sharing its PostgreSQL, as the resumable-upload draft asks (and tusd does for
tus): the older one is most likely from a connection the client already gave up on, and while
it runs it holds the range lock the client's retry needs and may still move the offset the
client just asked for.

Stopping means shutting the older request's connection down: its body pump then sees the
client gone and the request ends the way any disconnect ends, its bytes not recorded. That
needs partway's own HTTP protocol (the body read from the socket); on uvicorn's stock protocol
the older append runs on until its body deadlines cut it, and the newer request goes ahead
after STOP_WAIT_SECONDS (it then waits for the range lock as before).

On this instance a registry of running appends finds the older one. Other instances are
reached through PostgreSQL, which they all share already (issue #19):

- while an append runs, its instance holds a *shared* advisory lock on `append:<upload>`
  (on a pooled connection, so an instance that dies lets go of it with its connection);
- a newer request first tries that lock *exclusively*. Got at once (the common case: one
  round trip), no append runs anywhere and it goes on. Otherwise it sends
  `NOTIFY partway_supersede, '<sender> <upload>'` and polls the lock every 0.1 s until the
  older append has ended (at most STOP_WAIT_SECONDS);
- every instance LISTENs on that channel on one connection of its own and stops its running
  append for the named upload, as a local newer request would.

Why this and not a table the running append polls: a notification arrives in milliseconds
with no extra work while nothing is superseded (a poll would cost every running append a query
a second), the advisory lock says exactly when the older append is over (no rows to clean up
after a crash), and both need only the database the instances share. If the listening
connection is down (it reconnects every second), a stop is missed and the newer request goes
ahead after STOP_WAIT_SECONDS, as with the stock protocol. A sender ignores its own
notifications: its own appends were stopped through the registry. An instance stops whatever
append it runs for the upload when the notification arrives; one it began after the stop was
sent (a client racing itself across instances) would be stopped too, and the client resumes
as after any cut.

SQLite deployments are single-host and stay in-process: two processes on one SQLite file do
not stop each other's appends (their file locks still keep them apart).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from ..domain.errors import Busy
from .socket_body import SocketBody

log = logging.getLogger(__name__)

# How long a newer request waits for the stopped one to let go of its locks.
STOP_WAIT_SECONDS = 5.0
# How often a newer request looks whether another instance's append has ended.
POLL_SECONDS = 0.1
CHANNEL = "partway_supersede"
# After the listening connection broke, the next attempt.
RECONNECT_SECONDS = 1.0
# How long an append waits for a free connection to mark itself running (then 503).
POOL_WAIT_SECONDS = 30.0


@dataclass
class _Running:
    body: SocketBody | None
    done: asyncio.Event = field(default_factory=asyncio.Event)


class Elsewhere:
    """Appends on other instances: none to reach (one process, or SQLite)."""

    def running(self, session_id: str) -> contextlib.AbstractAsyncContextManager[None]:
        """Held while this instance runs an append for the upload."""
        return contextlib.nullcontext()

    async def stop(self, session_id: str) -> None:
        """Stop an append other instances run for the upload; return once it has ended."""

    async def start(self, local: Supersede) -> None:
        pass

    async def close(self) -> None:
        pass


class Supersede:
    """The appends running on this instance, and the way to those on the others."""

    def __init__(self, elsewhere: Elsewhere | None = None) -> None:
        self._running: dict[str, _Running] = {}
        self.elsewhere = elsewhere or Elsewhere()

    async def start(self) -> None:
        await self.elsewhere.start(self)

    async def close(self) -> None:
        await self.elsewhere.close()

    def stop_here(self, session_id: str) -> _Running | None:
        """Stop this instance's append for the upload, if one runs; it, to wait for."""
        older = self._running.get(session_id)
        if older is None or older.body is None:
            return None
        older.body.stop()
        return older

    async def stop_older(self, session_id: str) -> None:
        """Stop the append running for this upload, here or elsewhere, and wait until it has
        ended."""
        if session_id in self._running:
            # This instance's latest append: it stopped any older one elsewhere as it began.
            older = self.stop_here(session_id)
            if older is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(older.done.wait(), STOP_WAIT_SECONDS)
            return
        await self.elsewhere.stop(session_id)

    @contextlib.asynccontextmanager
    async def sole_append(self, session_id: str, body: SocketBody | None) -> AsyncIterator[None]:
        """Run an append as the upload's only one, stopping an older one first."""
        await self.stop_older(session_id)
        mine = self._running[session_id] = _Running(body)
        try:
            async with self.elsewhere.running(session_id):
                yield
        finally:
            if self._running.get(session_id) is mine:
                del self._running[session_id]
            mine.done.set()


class PgElsewhere(Elsewhere):
    """Other instances on one PostgreSQL: an advisory lock per running append, LISTEN/NOTIFY
    to stop it (see the module's docstring)."""

    def __init__(self, url: str, max_connections: int = 32) -> None:
        from ..metadata.engine import libpq_url

        self._url = libpq_url(url)
        self._max = max_connections
        self._me = secrets.token_hex(8)
        self._pool: Any = None
        self._listener: asyncio.Task[None] | None = None

    async def start(self, local: Supersede) -> None:
        from psycopg_pool import AsyncConnectionPool

        self._pool = AsyncConnectionPool(
            self._url, min_size=1, max_size=self._max, kwargs={"autocommit": True}, open=False
        )
        await self._pool.open()
        listening = asyncio.Event()
        self._listener = asyncio.create_task(self._listen(local, listening))
        # Serving before LISTEN would miss stops sent meanwhile; a database that does not
        # answer is not waited for long (the listener keeps trying).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(listening.wait(), 10)

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
        if self._pool is not None:
            await self._pool.close()

    async def _listen(self, local: Supersede, listening: asyncio.Event) -> None:
        import psycopg

        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._url, autocommit=True
                ) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    listening.set()
                    async for note in conn.notifies():
                        sender, _, session_id = note.payload.partition(" ")
                        if sender != self._me:
                            local.stop_here(session_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database restarted, the network broke: listen again
                log.warning("supersede: listening for other instances failed: %s", exc)
            await asyncio.sleep(RECONNECT_SECONDS)

    @contextlib.asynccontextmanager
    async def running(self, session_id: str) -> AsyncIterator[None]:
        from ..metadata.engine import advisory_key

        if self._pool is None:  # an app served without its lifespan: this process alone
            yield
            return
        from psycopg_pool import PoolTimeout

        key = advisory_key(f"append:{session_id}")
        try:
            conn = await self._pool.getconn(timeout=POOL_WAIT_SECONDS)
        except PoolTimeout:
            raise Busy("too many appends at once on this instance; retry later") from None
        try:
            await conn.execute("SELECT pg_advisory_lock_shared(%s)", (key,))
            try:
                yield
            finally:
                await conn.execute("SELECT pg_advisory_unlock_shared(%s)", (key,))
        except BaseException:
            await conn.close()  # the lock dies with it, whatever state it was left in
            raise
        finally:
            await self._pool.putconn(conn)

    async def stop(self, session_id: str) -> None:
        from ..metadata.engine import advisory_key

        if self._pool is None:
            return
        from psycopg_pool import PoolTimeout

        key = advisory_key(f"append:{session_id}")
        try:
            async with self._pool.connection(timeout=POOL_WAIT_SECONDS) as conn:
                await self._stop(conn, key, session_id)
        except PoolTimeout:
            raise Busy("too many requests at once on this instance; retry later") from None

    async def _stop(self, conn: Any, key: int, session_id: str) -> None:
        if await _try_lock(conn, key):
            return
        await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, f"{self._me} {session_id}"))
        loop = asyncio.get_running_loop()
        until = loop.time() + STOP_WAIT_SECONDS
        while loop.time() < until:
            await asyncio.sleep(POLL_SECONDS)
            if await _try_lock(conn, key):
                return


async def _try_lock(conn: Any, key: int) -> bool:
    """Whether no append holds the upload's lock; the lock is not kept."""
    cur = await conn.execute("SELECT pg_try_advisory_lock(%s)", (key,))
    row = await cur.fetchone()
    if row is None or not row[0]:
        return False
    await conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
    return True


def for_metadata(url: str) -> Supersede:
    """Instances sharing a PostgreSQL database may run on several hosts: reach them there."""
    if url.startswith("postgresql"):
        return Supersede(PgElsewhere(url))
    return Supersede()


_default = Supersede()


def of(request: Any) -> Supersede:
    """The app's registry (one per app; the module's own for apps built without one)."""
    found: Supersede | None = getattr(request.app.state, "supersede", None)
    return found or _default
