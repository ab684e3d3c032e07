"""Rows ↔ domain objects."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from ..domain.errors import NameTaken
from ..domain.models import (
    ACTIVE_STATES,
    ByteRange,
    Entry,
    EntryKind,
    SessionState,
    Tenant,
    UploadSession,
)
from .base import INLINE_ROWS, TooManyRows
from .schema import entries, ranges, sessions

ACTIVE = [state.value for state in ACTIVE_STATES]
# An upload still holding its name, with the states written into the SQL rather than bound:
# SQLite uses the partial index of open upload names (WHERE state IN ('open', 'finishing')) only
# for a query whose condition it can see implies the index's own, and it cannot see into
# parameters (bound, a name lookup read every session of the consumer: 5.8 ms at 20,000). As
# literal columns they are part of the statement, compiled once and cached; a literal_execute
# parameter was rendered again at every execution (py-spy: ~40 % of a create's name check).
HOLDS_NAME: sa.ColumnElement[bool] = sessions.c.state.in_(
    [sa.literal_column(f"'{state}'") for state in ACTIVE]
)
# An unfinished upload holding a name in a folder: bound as app_id, consumer_id, drive_id,
# parent_id (the folder) and name.
NAME_IN_UPLOADS = (
    sessions.c.app_id == sa.bindparam("app_id"),
    sessions.c.consumer_id == sa.bindparam("consumer_id"),
    sessions.c.drive_id == sa.bindparam("drive_id"),
    sessions.c.folder_id == sa.bindparam("parent_id"),
    sessions.c.name == sa.bindparam("name"),
    HOLDS_NAME,
)


def name_taken_error(name: str) -> NameTaken:
    return NameTaken(f"the folder already has an entry or an upload in progress named {name!r}")


def tenant_of(table: sa.Table, tenant: Tenant) -> sa.ColumnElement[bool]:
    return sa.and_(table.c.app_id == tenant.app_id, table.c.consumer_id == tenant.consumer_id)


def session_of(row: Row[Any], received: tuple[ByteRange, ...]) -> UploadSession:
    return UploadSession(
        id=row.id,
        tenant=Tenant(row.app_id, row.consumer_id),
        service_id=row.service_id,
        drive_id=row.drive_id,
        folder_id=row.folder_id,
        name=row.name,
        size=row.size,
        part_size=row.part_size,
        state=SessionState(row.state),
        storage_key=row.storage_key,
        created_at=row.created_at,
        updated_at=row.updated_at,
        expires_at=row.expires_at,
        file_id=row.file_id,
        ranges=received,
        idempotency_key=row.idempotency_key,
        storage_handle=row.storage_handle,
        mime_type=row.mime_type,
        client_metadata=metadata_of(row.client_metadata),
        direct=row.direct,
    )


def metadata_of(stored: str | None) -> tuple[tuple[str, str], ...]:
    """The client's metadata pairs, kept as a JSON object (in the order sent)."""
    if not stored:
        return ()
    return tuple((str(k), str(v)) for k, v in json.loads(stored).items())


def metadata_text(pairs: tuple[tuple[str, str], ...]) -> str | None:
    return json.dumps(dict(pairs), ensure_ascii=False) if pairs else None


def range_of(row: Row[Any]) -> ByteRange:
    return ByteRange(row.start, row.size, row.sha1, row.sha256, row.tag, row.crc32c)


_RANGES_OF = (
    sa.select(ranges)
    .where(ranges.c.session_id.in_(sa.bindparam("sids", expanding=True)))
    .order_by(ranges.c.session_id, ranges.c.start)
)


_FEW_RANGES_OF = _RANGES_OF.limit(INLINE_ROWS + 1)


def ranges_of(
    c: Connection, session_ids: list[str], bounded: bool = False
) -> dict[str, tuple[ByteRange, ...]]:
    """The recorded ranges of each session, by start. `bounded`: more than INLINE_ROWS in all
    raise TooManyRows (a read on the event loop, see SqlBase._read_consistent)."""
    found: dict[str, list[ByteRange]] = {sid: [] for sid in session_ids}
    if session_ids:
        # A list of ids expands the one bound parameter (built once: see metadata/sessions.py).
        query = _FEW_RANGES_OF if bounded else _RANGES_OF
        rows = c.execute(query, {"sids": session_ids}).all()  # whole: no cursor left open
        if bounded and len(rows) > INLINE_ROWS:
            raise TooManyRows()
        for r in rows:
            found[r.session_id].append(range_of(r))
    return {sid: tuple(held) for sid, held in found.items()}


# An entry's row, its values bound at execution (see _INSERT_SESSION in metadata/sessions.py).
INSERT_ENTRY = entries.insert()


def entry_of(row: Row[Any]) -> Entry:
    return Entry(
        id=row.id,
        tenant=Tenant(row.app_id, row.consumer_id),
        drive_id=row.drive_id,
        parent_id=row.parent_id,
        name=row.name,
        kind=EntryKind(row.kind),
        created_at=row.created_at,
        updated_at=row.updated_at,
        size=row.size,
        service_id=row.service_id,
        storage_key=row.storage_key,
        description=row.description,
        sha1=row.sha1,
        sha256=row.sha256,
        crc32c=row.crc32c,
        mime_type=row.mime_type,
    )


def entry_values(entry: Entry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "app_id": entry.tenant.app_id,
        "consumer_id": entry.tenant.consumer_id,
        "drive_id": entry.drive_id,
        "parent_id": entry.parent_id,
        "name": entry.name,
        "kind": entry.kind.value,
        "size": entry.size,
        "service_id": entry.service_id,
        "storage_key": entry.storage_key,
        "description": entry.description,
        "sha1": entry.sha1,
        "sha256": entry.sha256,
        "crc32c": entry.crc32c,
        "mime_type": entry.mime_type,
        "created_at": entry.created_at,
        "updated_at": entry.updated_at,
    }
