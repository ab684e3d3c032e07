"""Interfaces the domain needs, owned here and implemented by storage/, metadata/ and locks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Generator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from .models import (
    ByteRange,
    Entry,
    EntryKind,
    Placement,
    SessionState,
    SessionSummary,
    Tenant,
    UploadSession,
)
from .paging import After
from .policy import StorageCapabilities

Clock = Callable[[], datetime]
Bytes = bytes | bytearray | memoryview


# Blocking work on a body, run by worker threads, that yields whenever the body has no bytes for
# it yet: it resumes (perhaps in another thread) once some have arrived. Waiting holds no thread.
Steps = Generator[None, None, None]


class DirectBody(Protocol):
    """A request body read straight from the connection, past the event loop."""

    length: int

    def read_into(self, view: memoryview) -> Steps:
        """Steps that fill `view` with the next bytes of the body."""

    def splice_into(self, fd: int, offset: int, count: int) -> Steps:
        """Steps that move the next `count` bytes into file `fd` at `offset` without passing
        them through Python."""

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

    async def complete(self, at: Placement, ranges: list[ByteRange], size: int) -> None:
        """Assemble the ranges (sorted, covering 0..size) into a readable, durable object.
        Completing an already completed object of that size is not an error (a finish that
        crashed half-way is retried)."""

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


class Locks(Protocol):
    """Exclusion between requests of one session, across processes sharing the metadata store."""

    def session_shared(self, session_id: str) -> AbstractAsyncContextManager[None]: ...

    def session_exclusive(self, session_id: str) -> AbstractAsyncContextManager[None]: ...

    def range(self, session_id: str, start: int) -> AbstractAsyncContextManager[None]:
        """Exclusive: one writer at a time of the range starting at `start`."""

    async def forget(self, session_id: str) -> None:
        """Drop whatever the locks of a finished or deleted session left behind."""

    async def close(self) -> None: ...


class Events(Protocol):
    """Lifecycle events (session.created, part.recorded, part.rejected, …) for logs and metrics."""

    def emit(self, event: str, **fields: object) -> None: ...


class NoEvents:
    def emit(self, event: str, **fields: object) -> None:
        pass


@dataclass(frozen=True)
class Admission:
    """Limits a new session must fit in, checked atomically with its insertion."""

    default_quota: int | None = None
    max_open_sessions: int | None = None


class KeyRepository(Protocol):
    async def add_key(self, key_id: str, app_id: str, key_hash: str, now: datetime) -> None: ...

    async def app_for_key(self, key_hash: str) -> str | None: ...


class QuotaRepository(Protocol):
    async def set_quota(self, tenant: Tenant, max_bytes: int | None) -> None: ...

    async def quota(self, tenant: Tenant, default: int | None) -> int | None: ...

    async def usage(self, tenant: Tenant) -> int:
        """Bytes stored plus bytes reserved by open sessions."""


class SessionRepository(Protocol):
    async def insert_session(self, session: UploadSession, admission: Admission) -> None:
        """Raises NameTaken if an open session holds the name, QuotaExceeded past a limit."""

    async def get_session(
        self,
        tenant: Tenant,
        session_id: str,
        with_ranges: bool = True,
        only_range: int | None = None,
    ) -> UploadSession | None:
        """The session; its `ranges` stay empty unless asked for (they can number 10,000), or
        hold just the range starting at `only_range` if one is recorded there."""

    async def session_by_idempotency_key(
        self, tenant: Tenant, key: str
    ) -> UploadSession | None: ...

    async def active_session_named(
        self, tenant: Tenant, drive_id: str, folder_id: str, name: str
    ) -> UploadSession | None: ...

    async def list_sessions(
        self, tenant: Tenant, now: datetime, after: After | None, limit: int
    ) -> list[SessionSummary]:
        """Up to `limit` unfinished, unexpired sessions of a tenant past `after`, oldest first
        (ties by id), their parts summed up where they are stored: a page costs the same
        whatever the tenant's other sessions hold."""

    async def forget_range(self, session_id: str, start: int) -> None: ...

    async def record_range(
        self, session_id: str, received: ByteRange, now: datetime, expires_at: datetime
    ) -> bool:
        """Record a range (replacing one at the same start) if the session is still open;
        False otherwise."""

    async def restage(self, session_id: str, handle: str, ranges: list[ByteRange]) -> None:
        """The store re-created the session's unfinished object: new handle, new receipts."""

    async def set_state(
        self, session_id: str, old: SessionState, new: SessionState, now: datetime
    ) -> bool:
        """Compare-and-set of the session state."""

    async def complete_session(self, session_id: str, entry: Entry, expires_at: datetime) -> None:
        """Insert the file entry and mark the session finished, atomically. May raise NameTaken."""

    async def delete_session(self, session_id: str) -> None: ...

    async def expired_sessions(self, now: datetime, limit: int) -> list[UploadSession]: ...

    async def mark_expired(self, session_id: str, now: datetime) -> bool:
        """Claim an expired session for reaping; exactly one caller ever gets True."""

    async def purge_sessions(self, now: datetime, tombstone_for: timedelta) -> int: ...

    async def referenced_keys(self) -> set[str]: ...

    async def open_usage(self) -> tuple[int, int]:
        """(unfinished sessions, bytes they hold) over every tenant, for metrics."""

    async def ping(self) -> None:
        """Raise if the store cannot be reached."""


class EntryRepository(Protocol):
    async def name_taken(
        self, tenant: Tenant, drive_id: str, parent_id: str, name: str
    ) -> bool: ...

    async def get_entry(self, tenant: Tenant, entry_id: str) -> Entry | None: ...

    async def insert_entry(self, entry: Entry) -> None:
        """Raises NameTaken on a name clash in the parent folder."""

    async def update_entry(self, entry: Entry) -> None:
        """Raises NameTaken on a name clash in the parent folder."""

    async def delete_entry(self, tenant: Tenant, entry_id: str) -> None: ...

    async def list_entries(
        self,
        tenant: Tenant,
        drive_id: str,
        parent_id: str | None,
        kind: EntryKind | None,
        order_by: str,
        descending: bool,
        offset: int,
        limit: int,
    ) -> list[Entry]: ...

    async def has_children(self, tenant: Tenant, folder_id: str) -> bool: ...


class Repository(KeyRepository, QuotaRepository, SessionRepository, EntryRepository, Protocol):
    """The metadata store as the domain sees it."""

    def close(self) -> None:
        """Release connections held outside the pool."""
