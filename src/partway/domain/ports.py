"""Interfaces the domain needs from storage/, locks/ and the event sinks, owned here (the
metadata store's are in repositories.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Generator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from .models import ByteRange, Placement
from .policy import StorageCapabilities

Clock = Callable[[], datetime]
Bytes = bytes | bytearray | memoryview


@dataclass(frozen=True)
class WaitWritable:
    """What steps yield when the descriptor they write to (a socket to an object store) cannot
    take more yet: they resume once it can, or fail with TimeoutError after `stall` seconds."""

    fd: int
    stall: float


# Blocking work on a body, run by worker threads, that yields whenever the body has no bytes for
# it yet (None), or its destination takes no more (WaitWritable): it resumes (perhaps in another
# thread) once it can go on. Waiting holds no thread.
Steps = Generator[WaitWritable | None, None, None]


class DirectBody(Protocol):
    """A request body read straight from the connection, past the event loop."""

    length: int

    def read_into(self, view: memoryview) -> Steps:
        """Steps that fill `view` with the next bytes of the body."""

    def read_chunks(self, count: int, into: list[bytes]) -> Steps:
        """Steps that append the next `count` bytes of the body to `into`, as the bytes objects
        the reads made (no buffer to zero, nothing copied out of it): for a store that sends
        them on rather than keeping a buffer."""

    def splice_into(
        self, fd: int, offset: int | None, count: int, stall: float | None = None
    ) -> Steps:
        """Steps that move the next `count` bytes into `fd` without passing them through
        Python: at `offset` of a file, or (None) down a stream such as a socket. A stream may
        be non-blocking if `stall` is given: the steps wait while it is full (WaitWritable),
        `stall` seconds at most."""

    async def drive(self, steps: Steps) -> None:
        """Run `steps` (made by this body's methods) to their end; raises if the body is cut
        off. Cancelled, it stops them before returning."""


# What a range is written from: a body read straight from the connection (which a store on a
# local file may splice), or ASGI chunks.
Source = AsyncIterator[bytes] | DirectBody
# Blocking work on bytes as they are stored (hashing), run in the thread that stores them.
Inspect = Callable[[Bytes], None]


@dataclass(frozen=True)
class StoredObject:
    """An object as the store lists it: key, unfinished upload's handle (if any), last write."""

    key: str
    modified: datetime
    handle: str = ""


@dataclass(frozen=True)
class Written:
    """A range the store made durable: its byte count and the store's receipt (S3: ETag)."""

    size: int
    tag: str | None


class Storage(Protocol):
    """Bytes of sessions and files, addressed by server-generated keys only.

    An object is unfinished (ranges may be written, it cannot be read) until `complete`.
    """

    @property
    def capabilities(self) -> StorageCapabilities: ...

    async def begin(self, key: str) -> str:
        """Prepare an unfinished object; returns its handle (S3: the multipart upload id)."""

    async def write_range(
        self,
        at: Placement,
        start: int,
        source: Source,
        length: int | None,
        limit: int,
        inspect: Inspect | None = None,
        accept: Callable[[int], None] | None = None,
    ) -> Written:
        """Write `source` (at most `limit` bytes, else WrongPartSize) at byte `start` of the
        unfinished object; `length` is its byte count if known before the bytes arrive.
        `inspect` is shown the bytes as they are stored; `accept` gets the
        byte count once the source ended and may raise to drop the range before it is made
        durable. A store without `writes_in_place` takes only starts on `at.grid`."""

    async def complete(self, at: Placement, ranges: list[ByteRange], size: int) -> int | None:
        """Assemble the ranges (sorted, covering 0..size) into a readable, durable object.
        Completing an already completed object of that size is not an error (a finish that
        crashed half-way is retried). Returns the store's own CRC32C of the object where it
        keeps one (S3 full-object checksums), after checking it against the CRC32C combined
        from the ranges' (StoredChecksumMismatch); else None."""

    async def reopen(self, at: Placement, ranges: list[ByteRange]) -> tuple[str, list[ByteRange]]:
        """Turn a completed object back into an unfinished one holding the same ranges, for a
        finish whose whole-file check failed. Returns the new handle and the ranges' receipts."""

    def read(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        """Bytes start..end-1 of a completed object, in blocks."""

    async def discard(self, key: str, handle: str) -> None:
        """Remove an object in whatever state it is in; a missing object is not an error."""

    async def delete(self, key: str) -> None:
        """Remove a completed object; a missing object is not an error."""

    async def inventory(self) -> list[StoredObject]:
        """Every object under partway's keys, finished or not, for orphan cleanup."""

    async def ready(self) -> None:
        """Raise if the backend cannot be used right now (for /readyz)."""

    async def close(self) -> None:
        """Release connections; called once when the server stops."""


class Tails(Protocol):
    """The short trailing piece of an append-only upload on a store whose ranges are whole
    grid cells (S3 parts of at least 5 MiB): kept as a small object of its own until more bytes
    fill its cell, as tusd's s3store keeps its `.part` object. Its receipt (the range's tag)
    names the object, so a new tail never overwrites the one the metadata still records."""

    async def write_tail(
        self, at: Placement, start: int, source: Source, length: int, inspect: Inspect | None
    ) -> Written:
        """Store `length` bytes (fewer than a cell) that sit at `start`, a grid boundary."""

    def read_tail(self, at: Placement, held: ByteRange) -> AsyncIterator[bytes]:
        """The bytes of a recorded tail, in blocks."""

    def is_tail(self, held: ByteRange) -> bool:
        """Whether a recorded range is a tail (else a part of the unfinished object)."""

    async def drop_tail(self, at: Placement, held: ByteRange) -> None:
        """Remove a tail the metadata no longer records; a missing one is not an error."""


class RangeCopies(Protocol):
    """Copies inside a store of whole parts (S3's UploadPartCopy): bytes of a completed object
    become a range of an unfinished one without passing through partway."""

    async def copy_range(
        self, at: Placement, start: int, source_key: str, first: int, size: int
    ) -> Written:
        """Bytes first..first+size-1 of completed object `source_key` become the range at
        `start` (on the grid) of the unfinished object."""


class Locks(Protocol):
    """Exclusion between requests of one session, across processes sharing the metadata store."""

    def session_shared(self, session_id: str) -> AbstractAsyncContextManager[None]: ...

    def session_exclusive(self, session_id: str) -> AbstractAsyncContextManager[None]: ...

    def part(self, session_id: str, start: int) -> AbstractAsyncContextManager[None]:
        """What a part's writer holds: the session shared, and the range starting at `start`
        exclusive (one writer at a time of each range). Taken together, the session first; if
        the range cannot be had (Busy), neither is held."""

    async def forget(self, session_id: str) -> None:
        """Drop whatever the locks of a finished or deleted session left behind."""

    async def close(self) -> None: ...
