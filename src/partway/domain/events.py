"""Lifecycle events as values: one dataclass per event, published to sinks (log, metrics) after
the change, and, for those that must not be lost (`durable`), also written to the outbox in the
same transaction as the change itself, for delivery (webhooks) to read."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import ClassVar, Protocol

from .errors import (
    DigestMismatch,
    DomainError,
    InsufficientStorage,
    InvalidState,
    NotFound,
    PayloadTooLarge,
    QuotaExceeded,
    WrongPartSize,
)
from .models import Tenant


@dataclass(frozen=True)
class Event:
    # The log's name of the event; for a durable one also the outbox's kind (`outbox_kind`).
    name: ClassVar[str]
    outbox_kind: ClassVar[str | None] = None

    def fields(self) -> dict[str, object]:
        """The event's values for a log line or an outbox payload (tenant flattened)."""
        values = asdict(self)
        tenant = values.pop("tenant", None)
        if tenant is not None:
            values.update(app_id=tenant["app_id"], consumer_id=tenant["consumer_id"])
        return values


@dataclass(frozen=True)
class SessionCreated(Event):
    name = "session.created"
    outbox_kind = "upload_session.created"
    session: str
    tenant: Tenant
    service_id: str
    size: int | None
    at: datetime  # when it happened: the outbox's occurred_at


@dataclass(frozen=True)
class RangeRecorded(Event):
    name = "part.recorded"
    session: str
    start: int
    bytes: int
    part: int | None  # the front's number for the range, if it numbers them (Apideck)


@dataclass(frozen=True)
class RangeRejected(Event):
    name = "part.rejected"
    session: str
    part: int | None
    reason: str


@dataclass(frozen=True)
class SessionFinished(Event):
    """The session's bytes became a file: Apideck's file.created."""

    name = "session.finished"
    outbox_kind = "file.created"
    session: str
    tenant: Tenant
    file: str
    size: int | None
    at: datetime  # when it happened: the outbox's occurred_at


@dataclass(frozen=True)
class SessionAborted(Event):
    name = "session.aborted"
    outbox_kind = "upload_session.aborted"
    session: str
    tenant: Tenant
    at: datetime  # when it happened: the outbox's occurred_at


@dataclass(frozen=True)
class SessionExpired(Event):
    name = "session.expired"
    outbox_kind = "upload_session.expired"
    session: str
    tenant: Tenant
    bytes: int
    at: datetime  # when it happened: the outbox's occurred_at


@dataclass(frozen=True)
class FileDeleted(Event):
    name = "file.deleted"
    outbox_kind = "file.deleted"
    file: str
    tenant: Tenant
    size: int | None
    at: datetime  # when it happened: the outbox's occurred_at


@dataclass(frozen=True)
class FileCreated(Event):
    """A file made other than by finishing a session: a folder copy's (issue #21)."""

    name = "file.created"
    outbox_kind = "file.created"
    file: str
    tenant: Tenant
    size: int | None
    at: datetime


@dataclass(frozen=True)
class FileUpdated(Event):
    """Renamed, moved or described."""

    name = "file.updated"
    outbox_kind = "file.updated"
    file: str
    tenant: Tenant
    at: datetime


@dataclass(frozen=True)
class FolderCreated(Event):
    name = "folder.created"
    outbox_kind = "folder.created"
    folder: str
    tenant: Tenant
    at: datetime


@dataclass(frozen=True)
class FolderUpdated(Event):
    name = "folder.updated"
    outbox_kind = "folder.updated"
    folder: str
    tenant: Tenant
    at: datetime


@dataclass(frozen=True)
class FolderDeleted(Event):
    name = "folder.deleted"
    outbox_kind = "folder.deleted"
    folder: str
    tenant: Tenant
    at: datetime


@dataclass(frozen=True)
class FolderCopied(Event):
    """A folder tree was copied and made visible (issue #18)."""

    name = "folder.copied"
    entries: int
    bytes: int


@dataclass(frozen=True)
class CopiesReclaimed(Event):
    """Copies whose process died mid-copy were dropped: rows, counted bytes, objects."""

    name = "folder.copy_reclaimed"
    copies: int


@dataclass(frozen=True)
class ReaperRan(Event):
    name = "reaper.run"
    expired: int
    bytes: int
    orphans: int


@dataclass(frozen=True)
class OutboxRecord:
    """A durable event as the outbox keeps it, numbered in commit order."""

    id: int
    kind: str
    entity_id: str
    tenant: Tenant
    occurred_at: datetime
    payload: dict[str, object]


def entity_of(event: Event) -> str:
    """The id of the session, file or folder a durable event is about."""
    for name in ("file", "folder", "session"):
        value = getattr(event, name, None)
        if isinstance(value, str):
            return value
    raise ValueError(f"{type(event).__name__} names no entity")


class EventSink(Protocol):
    """Where published events go (the log, the metrics). Awaited on the event loop after the
    change committed: a sink must not block, and a failing one must not fail the request."""

    async def publish(self, event: Event) -> None: ...


class NoEvents:
    async def publish(self, event: Event) -> None:
        pass


def rejection_reason(exc: DomainError) -> str:
    """The metric label of a refused part."""
    for cls, reason in (
        (DigestMismatch, "digest"),
        (WrongPartSize, "size"),
        (PayloadTooLarge, "size"),
        (QuotaExceeded, "quota"),
        (InsufficientStorage, "disk_full"),
        (NotFound, "not_found"),
        (InvalidState, "state"),
    ):
        if isinstance(exc, cls):
            return reason
    return "invalid"
