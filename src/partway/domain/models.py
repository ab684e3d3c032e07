"""Plain value objects of the domain."""

from __future__ import annotations

import enum
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime

ROOT_FOLDER_ID = "root"
DEFAULT_DRIVE_ID = "default"


# The shape of every id new_id makes (older ids had more hex digits).
SERVER_ID = re.compile(r"^[a-z]+_[0-9a-f]{8,64}$")


def new_id(prefix: str) -> str:
    """A server-generated, path-safe id (hex only: no '/', '?', '#' or '%' ever reaches a path)."""
    return f"{prefix}_{secrets.token_hex(12)}"


def server_id(value: str, what: str) -> str:
    """`value`, checked to have new_id's shape: only such ids become file paths or object keys,
    so no client-supplied name can steer one."""
    if not SERVER_ID.match(value):
        raise ValueError(f"invalid {what} {value!r}")
    return value


@dataclass(frozen=True)
class Tenant:
    """Everything is scoped to an app and one of its consumers."""

    app_id: str
    consumer_id: str


class SessionState(enum.StrEnum):
    OPEN = "open"
    FINISHING = "finishing"
    FINISHED = "finished"
    # Reaped: bytes and parts gone, the row kept a while so clients learn why.
    EXPIRED = "expired"


ACTIVE_STATES = (SessionState.OPEN, SessionState.FINISHING)


@dataclass(frozen=True)
class Part:
    number: int
    size: int
    sha1: str | None = None
    sha256: str | None = None
    tag: str | None = None  # the store's receipt for the bytes (S3: the part's ETag)


@dataclass(frozen=True)
class UploadSession:
    id: str
    tenant: Tenant
    service_id: str
    drive_id: str
    folder_id: str
    name: str
    size: int | None
    part_size: int
    state: SessionState
    storage_key: str
    created_at: datetime
    updated_at: datetime
    expires_at: datetime
    file_id: str | None = None
    parts: tuple[Part, ...] = field(default=())
    idempotency_key: str | None = None
    # The store's id for the unfinished object (S3: the multipart upload id; local: empty).
    storage_handle: str = ""

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at <= now

    def uploaded_bytes(self) -> int:
        return sum(p.size for p in self.parts)


@dataclass(frozen=True)
class SessionSummary:
    """A session as a listing shows it: its parts as a count and the merged inclusive byte
    ranges they cover, never one by one (a session may hold 10,000; `session.parts` is empty)."""

    session: UploadSession
    part_count: int
    byte_ranges: tuple[tuple[int, int], ...]


class EntryKind(enum.StrEnum):
    FILE = "file"
    FOLDER = "folder"


@dataclass(frozen=True)
class Entry:
    """A file or a folder as it appears in a drive."""

    id: str
    tenant: Tenant
    drive_id: str
    parent_id: str
    name: str
    kind: EntryKind
    created_at: datetime
    updated_at: datetime
    size: int | None = None
    service_id: str | None = None
    storage_key: str | None = None
    description: str | None = None
    sha1: str | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class Drive:
    id: str
    name: str
    description: str | None = None


@dataclass(frozen=True)
class NewSession:
    name: str
    parent_folder_id: str
    size: int | None
    drive_id: str | None = None


@dataclass(frozen=True)
class EntryPatch:
    name: str | None = None
    parent_folder_id: str | None = None
    description: str | None = None
