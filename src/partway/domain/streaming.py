"""Moving a request body into storage.

A body taken straight from the connection goes into a local file by the store's filler (socket
to file inside the kernel, hashed where it landed), or block by block to the store's async
writer otherwise (S3); either way its steps run in the body's worker threads. A body of ASGI
chunks is gathered into ~1 MiB batches, each hashed and written off the event loop (one
vectored write, no joining copy) while the next one fills."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from .digests import MultiHasher
from .errors import WrongPartSize
from .ports import Body, Bytes, DirectBody, RangeWriter

BATCH_BYTES = 1024 * 1024


async def _consume(chunks: list[Bytes], writer: RangeWriter, hasher: MultiHasher | None) -> None:
    if hasher is None:
        await writer.write(chunks)
        return

    def hash_all() -> None:
        for chunk in chunks:
            hasher.update(chunk)

    # Hashed in the thread that writes the batch: a thread hop costs ~0.4 ms of event-loop time,
    # and parts in flight keep both cores busy anyway.
    await writer.write(chunks, hash_all)


class _Pipeline:
    """At most one batch in flight while the next one fills."""

    def __init__(self, writer: RangeWriter, hasher: MultiHasher | None) -> None:
        self._writer = writer
        self._hasher = hasher
        self._pending: asyncio.Future[None] | None = None

    async def submit(self, chunks: list[Bytes]) -> None:
        await self.drain()
        self._pending = asyncio.ensure_future(_consume(chunks, self._writer, self._hasher))

    async def drain(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            await pending

    async def settle(self) -> None:
        """Never leave a thread writing to a file that is about to be closed."""
        if self._pending is not None:
            with contextlib.suppress(BaseException):
                await asyncio.shield(self._pending)
            self._pending = None


async def stream_into(
    body: Body, writer: RangeWriter, hasher: MultiHasher | None, limit: int
) -> int:
    """Write the body through `writer`, at most `limit` bytes; returns the byte count."""
    if isinstance(body, AsyncIterator):
        return await _stream_chunks(body, writer, hasher, limit)
    if body.length > limit:
        raise WrongPartSize(f"part body is larger than the {limit} bytes this part takes")
    fill = writer.filler()
    if fill is not None:
        await body.drive(fill(body, None if hasher is None else hasher.update))
    else:
        await _stream_chunks(_blocks_of(body), writer, hasher, limit)
    return body.length


async def _blocks_of(body: DirectBody) -> AsyncIterator[Bytes]:
    """The body as ~1 MiB blocks, each read into a buffer of its own."""
    remaining = body.length
    while remaining:
        view = memoryview(bytearray(min(BATCH_BYTES, remaining)))
        await body.drive(body.read_into(view))
        remaining -= len(view)
        yield view


async def _stream_chunks(
    body: AsyncIterator[Bytes], writer: RangeWriter, hasher: MultiHasher | None, limit: int
) -> int:
    received = 0
    batch: list[Bytes] = []
    held = 0
    pipeline = _Pipeline(writer, hasher)
    try:
        async for chunk in body:
            if not chunk:
                continue
            received += len(chunk)
            if received > limit:
                raise WrongPartSize(f"part body is larger than the {limit} bytes this part takes")
            batch.append(chunk)
            held += len(chunk)
            if held >= BATCH_BYTES:
                await pipeline.submit(batch)
                batch, held = [], 0
        if batch:
            await pipeline.submit(batch)
        await pipeline.drain()
    finally:
        await pipeline.settle()
    return received
