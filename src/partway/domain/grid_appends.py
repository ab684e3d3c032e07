"""Appends at an offset on a store that cannot write in place (S3), the way tusd's s3store does
it: the bytes are cut on the session's grid into whole parts, and a trailing piece shorter than
a part is kept as a tail object (ports.Tails) that the next append reads back and puts before
its own bytes. Every range recorded is durable (a part in the store, or a stored tail), so the
offset a client is told never counts bytes a crash could lose. The upload's very last piece
goes in as the final part; a tail still recorded at finish is made one by the store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from .digests import Digest, MultiHasher
from .errors import BodyCut, InvalidState, PayloadTooLarge
from .models import ByteRange, UploadSession
from .ports import Bytes, Source, Storage, Tails

Record = Callable[[ByteRange], Awaitable[None]]
BLOCK = 1024 * 1024


@dataclass(frozen=True)
class GridAppend:
    """One append: `length` body bytes (None: unknown) at `offset`, at most `limit` of them;
    `end` is the upload's length when known, so a piece that reaches it is its final part."""

    offset: int
    length: int | None
    limit: int
    end: int | None


class _Cutter:
    """The tail's bytes, then the body's, handed out in pieces that end on chosen byte counts
    without copying whole chunks (only a chunk that straddles a cut is split)."""

    def __init__(self, stream: AsyncIterator[Bytes]) -> None:
        self._stream = stream
        self._left: memoryview | None = None

    async def _next(self) -> memoryview | None:
        if self._left is not None:
            left, self._left = self._left, None
            return left
        async for chunk in self._stream:
            if chunk:
                return memoryview(chunk)
        return None

    async def take(self, count: int) -> AsyncIterator[bytes]:
        """Exactly `count` bytes; BodyCut if the stream ends before."""
        while count:
            chunk = await self._next()
            if chunk is None:
                raise BodyCut("the body ended before its declared length")
            if len(chunk) > count:
                chunk, self._left = chunk[:count], chunk[count:]
            count -= len(chunk)
            yield bytes(chunk)

    async def gather(self, most: int) -> list[bytes]:
        """Up to `most` bytes, fewer only at the stream's end. For bodies of unknown length:
        held in memory to learn whether they fill a part, bounded by the part size as the S3
        store's own chunked parts are."""
        held: list[bytes] = []
        while most:
            chunk = await self._next()
            if chunk is None:
                break
            if len(chunk) > most:
                chunk, self._left = chunk[:most], chunk[most:]
            most -= len(chunk)
            held.append(bytes(chunk))
        return held


async def _chunks(source: Source) -> AsyncIterator[Bytes]:
    if isinstance(source, AsyncIterator):
        async for chunk in source:
            yield chunk
        return
    remaining = source.length  # a body read from the socket: ~1 MiB blocks of its own
    while remaining:
        view = memoryview(bytearray(min(BLOCK, remaining)))
        await source.drive(source.read_into(view))
        remaining -= len(view)
        yield view


async def _counted(
    source: Source, limit: int, hasher: MultiHasher | None, label: str
) -> AsyncIterator[Bytes]:
    """The body, refused past `limit` bytes, shown to the hasher (the client's checksum is of
    the body alone, not of the tail put before it)."""
    received = 0
    async for chunk in _chunks(source):
        received += len(chunk)
        if received > limit:
            raise PayloadTooLarge(f"{label} is more than the {limit} bytes the upload takes")
        if hasher is not None:
            hasher.update(chunk)
        yield chunk


async def _joined(
    head: AsyncIterator[bytes] | None, body: AsyncIterator[Bytes]
) -> AsyncIterator[Bytes]:
    if head is not None:
        async for block in head:
            yield block
    async for chunk in body:
        yield chunk


async def _once(chunks: list[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def append_on_grid(
    session: UploadSession,
    storage: Storage,
    tails: Tails,
    append: GridAppend,
    source: Source,
    digest: Digest | None,
    record: Record,
) -> int:
    """Write the append's bytes and record them; returns the body's byte count.

    Without a checksum each part is recorded once stored: a body cut off part-way keeps the
    parts it filled, as tusd does. With one, nothing is recorded until the whole body matched
    it; parts stored meanwhile are unlisted and overwritten by the next try at those numbers."""
    grid, at = session.part_size, session.placement
    cell = append.offset - append.offset % grid
    old = next((r for r in session.ranges if r.start == cell and r.size), None)
    if old is not None and not tails.is_tail(old):
        # Only a session written by parts (or restored after a failed finish) ends so.
        raise InvalidState("the upload's last part is already assembled; it takes no more bytes")
    held = old.size if old is not None else 0
    if append.length == 0:
        return 0
    label = f"the append at offset {append.offset}"
    hasher = MultiHasher(list(digest.algorithms)) if digest else None
    head = tails.read_tail(at, old) if old is not None else None
    cutter = _Cutter(_joined(head, _counted(source, append.limit, hasher, label)))
    left = None if append.length is None else held + append.length
    pending: list[ByteRange] = []
    replaced = False
    try:
        while True:
            if left is not None:
                size = min(grid, left)
                pieces: AsyncIterator[bytes] = cutter.take(size)
                left -= size
            else:
                gathered = await cutter.gather(grid)
                size = sum(len(c) for c in gathered)
                pieces = _once(gathered)
            if size == 0:
                break
            # A whole cell, or the upload's last bytes, is a part; anything shorter a tail.
            as_part = size == grid or (append.end is not None and cell + size == append.end)
            if as_part:
                written = await storage.write_range(at, cell, pieces, size, size)
            else:
                written = await tails.write_tail(at, cell, pieces, size, None)
            piece = ByteRange(cell, size, tag=written.tag)
            if hasher is None:
                await record(piece)
                replaced = True
            else:
                pending.append(piece)
            cell += size
            if not as_part or left == 0:
                break
        if hasher is not None and digest is not None:
            hasher.verify(digest, label)
            for piece in pending:
                await record(piece)
                replaced = True
    finally:
        if old is not None and replaced:
            # Replaced in the metadata by what was recorded at its start: no longer needed.
            await tails.drop_tail(at, old)
    return append.length if append.length is not None else cell - append.offset
