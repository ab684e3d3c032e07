"""Moving a request body into storage: reused 1 MiB blocks, hashed and written off the event
loop while the next block is received.

Blocks come from a pool: a fresh 1 MiB object per block would cost an allocation, page faults
and zeroing for every MiB received (measured: more system time than the copy itself).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from .digests import MultiHasher
from .errors import WrongPartSize
from .ports import RangeWriter

BLOCK_SIZE = 1024 * 1024
POOL_LIMIT = 64


class BlockPool:
    """Free blocks, taken and given back on the event loop thread only."""

    def __init__(self, size: int = BLOCK_SIZE, limit: int = POOL_LIMIT) -> None:
        self.size = size
        self._limit = limit
        self._free: list[bytearray] = []

    def take(self) -> bytearray:
        return self._free.pop() if self._free else bytearray(self.size)

    def give(self, block: bytearray) -> None:
        if len(self._free) < self._limit:
            self._free.append(block)


POOL = BlockPool()


async def _consume(block: memoryview, writer: RangeWriter, hasher: MultiHasher | None) -> None:
    if hasher is None:
        await writer.write(block)
        return
    # hashlib and pwrite both release the GIL, so the two run on separate cores.
    await asyncio.gather(writer.write(block), asyncio.to_thread(hasher.update, block))


class _Pipeline:
    """At most one block in flight while the next one fills."""

    def __init__(self, writer: RangeWriter, hasher: MultiHasher | None) -> None:
        self._writer = writer
        self._hasher = hasher
        self._pending: asyncio.Future[None] | None = None
        self._pending_block: bytearray | None = None

    async def submit(self, block: bytearray, length: int) -> None:
        await self.drain()
        self._pending_block = block
        view = memoryview(block)[:length]
        self._pending = asyncio.ensure_future(_consume(view, self._writer, self._hasher))

    async def drain(self) -> None:
        pending, block = self._pending, self._pending_block
        self._pending = self._pending_block = None
        if pending is not None:
            try:
                await pending
            finally:
                if block is not None:
                    POOL.give(block)

    async def settle(self) -> None:
        """Never leave a thread writing from a block that is reused or a file that is closed."""
        if self._pending is not None:
            with contextlib.suppress(BaseException):
                await asyncio.shield(self._pending)
            self._pending = self._pending_block = None


async def stream_into(
    body: AsyncIterator[bytes], writer: RangeWriter, hasher: MultiHasher | None, limit: int
) -> int:
    """Write the body through `writer`, at most `limit` bytes; returns the byte count."""
    received = 0
    block, fill = POOL.take(), 0
    pipeline = _Pipeline(writer, hasher)
    try:
        async for chunk in body:
            received += len(chunk)
            if received > limit:
                raise WrongPartSize(f"part body is larger than the {limit} bytes this part takes")
            view, pos = memoryview(chunk), 0
            while pos < len(view):
                take = min(len(view) - pos, POOL.size - fill)
                block[fill : fill + take] = view[pos : pos + take]
                fill += take
                pos += take
                if fill == POOL.size:
                    await pipeline.submit(block, fill)
                    block, fill = POOL.take(), 0
        if fill:
            await pipeline.submit(block, fill)
            block = bytearray()
        await pipeline.drain()
    finally:
        await pipeline.settle()
        if len(block) == POOL.size:
            POOL.give(block)
    return received
