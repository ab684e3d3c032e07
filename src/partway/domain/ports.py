"""Interfaces the domain needs, owned here and implemented by storage/, metadata/ and locks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from .models import Entry, EntryKind, Part, SessionState, Tenant, UploadSession
from .policy import StorageCapabilities

Clock = Callable[[], datetime]
Bytes = bytes | bytearray | memoryview


class RangeWriter(Protocol):
    """Writes one byte range of an object. Nothing is durable until `commit` returns."""

    async def write(self, chunks: Sequence[Bytes]) -> None:
        """Append these buffers, in order, at the writer's current position."""

    async def commit(self) -> None: ...

    async def close(self) -> None: ...


class Storage(Protocol):
    """Bytes of sessions and files, addressed by server-generated keys only."""

    @property
    def capabilities(self) -> StorageCapabilities: ...

    async def create(self, key: str) -> None:
        """Prepare an empty object for a new session."""

    async def open_range(self, key: str, offset: int, index: int) -> RangeWriter:
        """A writer for the range starting at `offset`, which is part `index` of the object."""

    async def complete(self, key: str, parts: list[Part], size: int) -> None:
        """Make the assembled object durable and readable (local: fsync; S3: complete multipart)."""

    def read(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        """Bytes start..end-1 of an object, in blocks."""

    async def delete(self, key: str) -> None:
        """Remove an object; a missing object is not an error."""

    async def keys_modified_before(self, moment: datetime) -> list[str]:
        """Keys of objects last written before `moment`, for orphan cleanup."""

    async def ready(self) -> None:
        """Raise if the backend cannot be used right now (for /readyz)."""


class Locks(Protocol):
    """Exclusion between requests of one session, across processes sharing the metadata store."""

    def session_shared(self, session_id: str) -> AbstractAsyncContextManager[None]: ...

    def session_exclusive(self, session_id: str) -> AbstractAsyncContextManager[None]: ...

    def part(self, session_id: str, number: int) -> AbstractAsyncContextManager[None]: ...

    async def forget(self, session_id: str) -> None: ...


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
        self, tenant: Tenant, session_id: str, with_parts: bool = True
    ) -> UploadSession | None:
        """The session; its `parts` stay empty unless asked for (they can number 10,000)."""

    async def part_recorded(self, session_id: str, number: int) -> bool: ...

    async def session_by_idempotency_key(
        self, tenant: Tenant, key: str
    ) -> UploadSession | None: ...

    async def active_session_named(
        self, tenant: Tenant, drive_id: str, folder_id: str, name: str
    ) -> UploadSession | None: ...

    async def list_sessions(self, tenant: Tenant, now: datetime) -> list[UploadSession]:
        """Unfinished, unexpired sessions of a tenant, oldest first."""

    async def forget_part(self, session_id: str, number: int) -> None: ...

    async def record_part(
        self, session_id: str, part: Part, now: datetime, expires_at: datetime
    ) -> bool:
        """Record a part if the session is still open; False otherwise."""

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
