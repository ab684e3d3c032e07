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
class ByteRange:
    """Bytes start..start+size-1 of an upload, received and durable. Ranges are keyed by where
    they start: a range sent again at the same start replaces the one recorded there."""

    start: int
    size: int
    sha1: str | None = None
    sha256: str | None = None
    tag: str | None = None  # the store's receipt for the bytes (S3: the part's ETag)
    crc32c: str | None = None  # hex; the file's CRC32C is combined from these at finish

    @property
    def end(self) -> int:
        """One past the last byte."""
        return self.start + self.size


@dataclass(frozen=True)
class Placement:
    """Where a store keeps an unfinished upload: its key, its handle (S3: the multipart upload
    id; local: empty) and the grid size stores that cannot write at any offset align to."""

    key: str
    handle: str
    grid: int


@dataclass(frozen=True)
class UploadSession:
    id: str
    tenant: Tenant
    service_id: str
    drive_id: str
    folder_id: str
    name: str
    size: int | None
    # The Apideck part size; also the grid that stores needing aligned ranges (S3: one multipart
    # part per range) place ranges on.
    part_size: int
    state: SessionState
    storage_key: str
    created_at: datetime
    updated_at: datetime
    expires_at: datetime
    file_id: str | None = None
    ranges: tuple[ByteRange, ...] = field(default=())
    idempotency_key: str | None = None
    # The store's id for the unfinished object (S3: the multipart upload id; local: empty).
    storage_handle: str = ""
    # What the client said of the file at create: its MIME type (tus `filetype`), and the
    # protocol's own metadata pairs, kept to be given back (tus HEAD sends Upload-Metadata).
    mime_type: str | None = None
    client_metadata: tuple[tuple[str, str], ...] = ()
    # Created for direct parts (partway extension): the client PUTs them into the store itself.
    direct: bool = False

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at <= now

    def uploaded_bytes(self) -> int:
        return sum(r.size for r in self.ranges)

    @property
    def placement(self) -> Placement:
        return Placement(self.storage_key, self.storage_handle, self.part_size)


@dataclass(frozen=True)
class SessionSummary:
    """A session as a listing shows it: its ranges as a count and merged inclusive byte
    ranges, never one by one (a session may hold 10,000; `session.ranges` is empty)."""

    session: UploadSession
    range_count: int
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
    crc32c: str | None = None  # hex, derived from the parts' CRCs at finish
    mime_type: str | None = None  # as the uploader said; None: guessed from the name


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
    mime_type: str | None = None
    client_metadata: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class EntryPatch:
    name: str | None = None
    parent_folder_id: str | None = None
    description: str | None = None
