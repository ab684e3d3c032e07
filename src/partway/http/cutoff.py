"""Ending a streamed response early, on purpose: a shared link revoked, deleted or expired while
its file is being downloaded stops that download within a second, not when the client is done.

ASGI has no way to abort a response once its head is out: a body that stops short of its
Content-Length, or an exception, is an error in uvicorn's log. partway's own HTTP protocol
(http/server.py) therefore offers `abort` as a scope extension: it closes the connection and
marks the request disconnected, after which uvicorn sends and logs nothing more. On uvicorn's
stock protocol (the fallback) there is no such extension and a download runs to its end.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

ABORT_EXTENSION = "partway.abort"
# How often a running download asks whether it may go on: one small indexed read a second.
RECHECK_SECONDS = 1.0

Abort = Callable[[], None]


def while_allowed(
    request: Request,
    response: Response,
    allowed: Callable[[], Awaitable[bool]],
    every: float = RECHECK_SECONDS,
) -> Response:
    """`response`, cut off (connection closed) once `allowed()` says no, asked every `every`
    seconds between chunks."""
    abort: Abort | None = request.scope.get("extensions", {}).get(ABORT_EXTENSION)
    if abort is None or not isinstance(response, StreamingResponse):
        return response
    response.body_iterator = _checked(response.body_iterator, allowed, abort, every)
    return response


async def _checked(
    chunks: Any, allowed: Callable[[], Awaitable[bool]], abort: Abort, every: float
) -> AsyncIterator[Any]:
    checked = time.monotonic()
    # aclosing: the store's reader (an open file, an S3 stream) is closed when this stops.
    closing = contextlib.aclosing(chunks) if hasattr(chunks, "aclose") else contextlib.nullcontext()
    async with closing:
        async for chunk in chunks:
            if time.monotonic() - checked >= every:
                if not await allowed():
                    abort()
                    return
                checked = time.monotonic()
            yield chunk
