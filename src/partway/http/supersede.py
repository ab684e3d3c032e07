"""A newer request for an upload stops an older append still running for it on this process,
as the resumable-upload draft asks (and tusd does for tus): the older one is most likely from
a connection the client already gave up on, and while it runs it holds the range lock the
client's retry needs and may still move the offset the client just asked for.

Stopping means shutting the older request's connection down: its body pump then sees the
client gone and the request ends the way any disconnect ends, its bytes not recorded. That
needs partway's own HTTP protocol (the body read from the socket); on uvicorn's stock protocol
the older append runs on until its body deadlines cut it. Appends on other instances are not
reached (they hold the range lock until then)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from .socket_body import SocketBody

# How long a newer request waits for the stopped one to let go of its locks.
STOP_WAIT_SECONDS = 5.0


@dataclass
class _Running:
    body: SocketBody | None
    done: asyncio.Event = field(default_factory=asyncio.Event)


_running: dict[str, _Running] = {}


async def stop_older(session_id: str) -> None:
    """Stop the append running for this upload, if any, and wait until it has ended."""
    older = _running.get(session_id)
    if older is None or older.body is None:
        return
    older.body.stop()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(older.done.wait(), STOP_WAIT_SECONDS)


@contextlib.asynccontextmanager
async def sole_append(session_id: str, body: SocketBody | None) -> AsyncIterator[None]:
    """Run an append as the upload's only one on this process, stopping an older one first."""
    await stop_older(session_id)
    mine = _running[session_id] = _Running(body)
    try:
        yield
    finally:
        if _running.get(session_id) is mine:
            del _running[session_id]
        mine.done.set()
