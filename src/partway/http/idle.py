"""Keep-alive connections waiting for their next request: the ones a server can close without
failing anyone, since a client reopens a closed keep-alive connection at the cost of a handshake.

A descriptor held for an idle client counts against every client, so under pressure these are
given up first (as nginx reuses its idle keep-alive connections when it runs short, and Jetty
shortens idle timeouts when resources are low):

- past half the connection cap ("busy"), a connection idle for `busy_timeout` is closed, not
  after the full keep-alive timeout, until fewer than a quarter of the cap are open (so that
  shedding a few does not end the sweep at once, only to begin again at the next arrival);
- at the cap, a new connection takes the place of the oldest idle one instead of being refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from itertools import takewhile
from typing import Protocol


class IdleConnection(Protocol):
    def timeout_keep_alive_handler(self) -> None: ...


class IdleConnections:
    def __init__(
        self,
        open_count: Callable[[], int],
        busy_from: int,
        busy_timeout: float,
        on_closed: Callable[[str], None] = lambda reason: None,
    ) -> None:
        self._open_count = open_count
        self.busy_from = busy_from
        self.busy_timeout = busy_timeout
        self._on_closed = on_closed
        # Insertion order is idle-since order: the oldest first.
        self._since: dict[IdleConnection, float] = {}
        self._sweep: asyncio.TimerHandle | None = None
        self._busy = False

    def __len__(self) -> int:
        return len(self._since)

    def waiting(self, connection: IdleConnection, loop: asyncio.AbstractEventLoop) -> None:
        """The connection answered its request and waits for another."""
        self._since.pop(connection, None)
        self._since[connection] = loop.time()
        self.watch(loop)

    def working(self, connection: IdleConnection) -> None:
        """The connection has bytes of a request again, or is gone."""
        self._since.pop(connection, None)

    def reclaim(self) -> bool:
        """Close the longest-idle connection to make room for a new one; False if none is idle."""
        if not self._since:
            return False
        self._close(next(iter(self._since)), "cap")
        return True

    def busy(self) -> bool:
        count = self._open_count()
        if count >= self.busy_from:
            self._busy = True
        elif count < self.busy_from // 2:
            self._busy = False
        return self._busy

    def watch(self, loop: asyncio.AbstractEventLoop) -> None:
        """While busy, sweep at the oldest idle connection's busy deadline."""
        if self._sweep is not None or not self._since or not self.busy():
            return
        oldest = next(iter(self._since.values()))
        delay = max(0.05, oldest + self.busy_timeout - loop.time())
        self._sweep = loop.call_later(delay, self._swept, loop)

    def _swept(self, loop: asyncio.AbstractEventLoop) -> None:
        self._sweep = None
        if not self.busy():
            return  # the keep-alive timeout applies again
        deadline = loop.time() - self.busy_timeout
        due = takewhile(lambda item: item[1] <= deadline, self._since.items())
        for connection, _ in list(due):
            self._close(connection, "busy")
        self.watch(loop)

    def _close(self, connection: IdleConnection, reason: str) -> None:
        self._since.pop(connection, None)
        self._on_closed(reason)
        connection.timeout_keep_alive_handler()
