"""Moving a request body into storage: large blocks, hashing and writing off the event loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from .digests import MultiHasher
from .errors import InvalidState
from .ports import RangeWriter

BLOCK_SIZE = 1024 * 1024


async def coalesce(body: AsyncIterator[bytes], size: int = BLOCK_SIZE) -> AsyncIterator[bytes]:
    """Join small network chunks into blocks of at least `size` bytes (one copy per byte)."""
    chunks: list[bytes] = []
    held = 0
    async for chunk in body:
        if not chunk:
            continue
        chunks.append(chunk)
        held += len(chunk)
        if held >= size:
            yield chunks[0] if len(chunks) == 1 else b"".join(chunks)
            chunks, held = [], 0
    if chunks:
        yield chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _consume(block: bytes, writer: RangeWriter, hasher: MultiHasher | None) -> None:
    if hasher is None:
        await writer.write(block)
        return
    # hashlib and pwrite both release the GIL, so the two run on separate cores.
    await asyncio.gather(writer.write(block), asyncio.to_thread(hasher.update, block))


async def stream_into(
    body: AsyncIterator[bytes], writer: RangeWriter, hasher: MultiHasher | None, limit: int
) -> int:
    """Write the body through `writer`, at most `limit` bytes; returns the byte count.

    While one block is written, the next is received: network and disk overlap.
    """
    received = 0
    pending: asyncio.Future[None] | None = None
    try:
        async for block in coalesce(body):
            received += len(block)
            if received > limit:
                raise InvalidState(f"part body is larger than the {limit} bytes this part takes")
            if pending is not None:
                await pending
            pending = asyncio.ensure_future(_consume(block, writer, hasher))
        if pending is not None:
            await pending
            pending = None
    finally:
        if pending is not None:
            # Never leave a thread writing to a file that is about to be closed.
            with contextlib.suppress(BaseException):
                await asyncio.shield(pending)
    return received
