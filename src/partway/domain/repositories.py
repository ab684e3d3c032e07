"""Interfaces of the metadata store, one per kind of caller: each service takes the narrow one
it calls, and the composition root passes the one store that implements them all."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from .events import Event, OutboxRecord
from .models import (
    ByteRange,
    Entry,
    EntryKind,
    SessionState,
    SessionSummary,
    Tenant,
    UploadSession,
)
from .paging import After


@dataclass(frozen=True)
class OpenLimits:
    """What the insertion of a new session checks atomically (domain/admission.py decides)."""

    default_quota: int | None = None
    max_open_sessions: int | None = None


@dataclass(frozen=True)
class Standing:
    """A consumer's counts as the store saw them when a limit refused a new session."""

    open_sessions: int
    used_bytes: int
    quota: int | None


class KeyRepository(Protocol):
    async def add_key(self, key_id: str, app_id: str, key_hash: str, now: datetime) -> None: ...

    async def app_for_key(self, key_hash: str) -> str | None: ...


class QuotaRepository(Protocol):
    async def set_quota(self, tenant: Tenant, max_bytes: int | None) -> None: ...

    async def quota(self, tenant: Tenant, default: int | None) -> int | None: ...

    async def usage(self, tenant: Tenant) -> int:
        """Bytes stored plus bytes reserved by open sessions."""


class EntryLookup(Protocol):
    """What naming and folder checks read."""

    async def name_taken(
        self, tenant: Tenant, drive_id: str, parent_id: str, name: str
    ) -> bool: ...

    async def get_entry(self, tenant: Tenant, entry_id: str) -> Entry | None: ...


class SessionRepository(Protocol):
    async def insert_session(
        self, session: UploadSession, limits: OpenLimits, outbox: Sequence[Event] = ()
    ) -> Standing | None:
        """Insert the session if the consumer's counts leave room within `limits`: None.
        Otherwise nothing is written and the counts are returned. Raises NameTaken if an open
        session holds the name (or its idempotency key)."""

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

    async def declare_size(self, session_id: str, size: int, now: datetime) -> bool:
        """Give an open session of unknown size its size (it then reserves all of it); False
        if it has one already or is no longer open."""

    async def restage(self, session_id: str, handle: str, ranges: list[ByteRange]) -> None:
        """The store re-created the session's unfinished object: new handle, new receipts."""

    async def set_state(
        self, session_id: str, old: SessionState, new: SessionState, now: datetime
    ) -> bool:
        """Compare-and-set of the session state."""

    async def complete_session(
        self, session_id: str, entry: Entry, expires_at: datetime, outbox: Sequence[Event] = ()
    ) -> None:
        """Insert the file entry and mark the session finished, atomically. May raise NameTaken."""

    async def delete_session(self, session_id: str, outbox: Sequence[Event] = ()) -> None: ...

    async def mark_expired(
        self, session_id: str, now: datetime, outbox: Sequence[Event] = ()
    ) -> bool:
        """Claim an expired session for reaping; exactly one caller ever gets True."""


class EntryRepository(EntryLookup, Protocol):
    async def insert_entry(self, entry: Entry, outbox: Sequence[Event] = ()) -> None:
        """Raises NameTaken on a name clash in the parent folder."""

    async def update_entry(self, entry: Entry, outbox: Sequence[Event] = ()) -> None:
        """Raises NameTaken on a name clash in the parent folder."""

    async def delete_entry(
        self, tenant: Tenant, entry_id: str, outbox: Sequence[Event] = ()
    ) -> None: ...

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


class OutboxRepository(Protocol):
    """Durable events in commit order; each method above that takes `outbox` writes its events
    in the same transaction as its change (all or nothing)."""

    async def outbox_after(self, after: int, limit: int) -> list[OutboxRecord]: ...


class ReapRepository(Protocol):
    """What the reaper reads and claims."""

    async def expired_sessions(self, now: datetime, limit: int) -> list[UploadSession]: ...

    async def purge_sessions(self, now: datetime, tombstone_for: timedelta) -> int: ...

    async def referenced_keys(self) -> set[str]: ...


class HealthRepository(Protocol):
    """What readiness checks and gauges read."""

    async def open_usage(self) -> tuple[int, int]:
        """(unfinished sessions, bytes they hold) over every tenant, for metrics."""

    async def ping(self) -> None:
        """Raise if the store cannot be reached."""


class UploadRepository(SessionRepository, QuotaRepository, EntryLookup, Protocol):
    """What the upload service needs: sessions and their ranges, quotas, names."""


class Repository(
    KeyRepository,
    QuotaRepository,
    SessionRepository,
    EntryRepository,
    ReapRepository,
    HealthRepository,
    OutboxRepository,
    Protocol,
):
    """The whole metadata store, as the composition root builds it."""

    def close(self) -> None:
        """Release connections held outside the pool."""
