"""An in-memory metadata store for tests: the Repository contract kept with dicts.

Every method runs to its end without awaiting, so on one event loop each is atomic, as a
transaction is in SQL. Usage is summed from the rows on each call (no counters to drift).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from ..domain.errors import NameTaken
from ..domain.events import Event, OutboxRecord, entity_of
from ..domain.models import (
    ACTIVE_STATES,
    ByteRange,
    Entry,
    EntryKind,
    SessionState,
    SessionSummary,
    Tenant,
    UploadSession,
)
from ..domain.paging import After
from ..domain.policy import merged_ranges
from ..domain.repositories import OpenLimits, Standing


def _name_taken(name: str) -> NameTaken:
    return NameTaken(f"the folder already has an entry or an upload in progress named {name!r}")


class MemoryRepository:
    def __init__(self) -> None:
        self._keys: dict[str, str] = {}  # key hash → app id
        self._quotas: dict[Tenant, int] = {}
        self._sessions: dict[str, UploadSession] = {}  # stored with no ranges
        self._ranges: dict[str, dict[int, ByteRange]] = {}
        self._entries: dict[str, Entry] = {}
        self._outbox: list[OutboxRecord] = []

    def _write_outbox(self, events: Sequence[Event]) -> None:
        for event in events:
            fields = event.fields()
            record = OutboxRecord(
                len(self._outbox) + 1,
                event.outbox_kind or "",
                entity_of(event),
                Tenant(str(fields["app_id"]), str(fields["consumer_id"])),
                getattr(event, "at"),  # noqa: B009 - every durable event has one
                json.loads(json.dumps(fields, default=str)),  # as SQL would give it back
            )
            self._outbox.append(record)

    async def outbox_after(self, after: int, limit: int) -> list[OutboxRecord]:
        return [r for r in self._outbox if r.id > after][:limit]

    # keys and quotas

    async def add_key(self, key_id: str, app_id: str, key_hash: str, now: datetime) -> None:
        self._keys[key_hash] = app_id

    async def app_for_key(self, key_hash: str) -> str | None:
        return self._keys.get(key_hash)

    async def set_quota(self, tenant: Tenant, max_bytes: int | None) -> None:
        if max_bytes is None:
            self._quotas.pop(tenant, None)
        else:
            self._quotas[tenant] = max_bytes

    async def quota(self, tenant: Tenant, default: int | None) -> int | None:
        return self._quotas.get(tenant, default)

    async def usage(self, tenant: Tenant) -> int:
        return self._usage(tenant)

    def _usage(self, tenant: Tenant) -> int:
        stored = sum(
            e.size or 0
            for e in self._entries.values()
            if e.tenant == tenant and e.kind is EntryKind.FILE
        )
        return stored + sum(self._reserved(s) for s in self._active(tenant))

    def _reserved(self, session: UploadSession) -> int:
        if session.size is not None:
            return session.size
        return sum(r.size for r in self._ranges[session.id].values())

    def _active(self, tenant: Tenant) -> list[UploadSession]:
        return [
            s for s in self._sessions.values() if s.tenant == tenant and s.state in ACTIVE_STATES
        ]

    # sessions

    def _with_ranges(self, session: UploadSession) -> UploadSession:
        held = tuple(sorted(self._ranges[session.id].values(), key=lambda r: r.start))
        return replace(session, ranges=held)

    def _open_named(self, tenant: Tenant, drive_id: str, folder_id: str, name: str) -> bool:
        return any(
            (s.drive_id, s.folder_id, s.name) == (drive_id, folder_id, name)
            for s in self._active(tenant)
        )

    async def insert_session(
        self, session: UploadSession, limits: OpenLimits, outbox: Sequence[Event] = ()
    ) -> Standing | None:
        tenant = session.tenant
        if self._open_named(tenant, session.drive_id, session.folder_id, session.name) or (
            session.idempotency_key is not None
            and any(
                s.tenant == tenant and s.idempotency_key == session.idempotency_key
                for s in self._sessions.values()
            )
        ):
            raise _name_taken(session.name)
        open_now, used = len(self._active(tenant)), self._usage(tenant)
        quota = self._quotas.get(tenant, limits.default_quota)
        most = limits.max_open_sessions
        if (most is not None and open_now >= most) or (
            quota is not None and used + (session.size or 0) > quota
        ):
            return Standing(open_now, used, quota)
        self._sessions[session.id] = replace(session, ranges=())
        self._ranges[session.id] = {}
        self._write_outbox(outbox)
        return None

    async def get_session(
        self,
        tenant: Tenant,
        session_id: str,
        with_ranges: bool = True,
        only_range: int | None = None,
    ) -> UploadSession | None:
        session = self._sessions.get(session_id)
        if session is None or session.tenant != tenant:
            return None
        if with_ranges:
            return self._with_ranges(session)
        if only_range is not None and only_range in self._ranges[session_id]:
            return replace(session, ranges=(self._ranges[session_id][only_range],))
        return session

    async def session_by_idempotency_key(self, tenant: Tenant, key: str) -> UploadSession | None:
        for session in self._sessions.values():
            if session.tenant == tenant and session.idempotency_key == key:
                return self._with_ranges(session)
        return None

    async def active_session_named(
        self, tenant: Tenant, drive_id: str, folder_id: str, name: str
    ) -> UploadSession | None:
        for s in self._active(tenant):
            if (s.drive_id, s.folder_id, s.name) == (drive_id, folder_id, name):
                return s
        return None

    async def list_sessions(
        self, tenant: Tenant, now: datetime, after: After | None, limit: int
    ) -> list[SessionSummary]:
        listed = sorted(
            (s for s in self._active(tenant) if s.expires_at > now),
            key=lambda s: (s.created_at, s.id),
        )
        if after is not None:
            listed = [s for s in listed if (s.created_at, s.id) > (after.created_at, after.id)]
        return [
            SessionSummary(
                s,
                len(self._ranges[s.id]),
                tuple(merged_ranges(list(self._ranges[s.id].values()))),
            )
            for s in listed[:limit]
        ]

    async def forget_range(self, session_id: str, start: int) -> None:
        self._ranges.get(session_id, {}).pop(start, None)

    async def record_range(
        self, session_id: str, received: ByteRange, now: datetime, expires_at: datetime
    ) -> bool:
        session = self._sessions.get(session_id)
        if session is None or session.state is not SessionState.OPEN:
            return False
        self._sessions[session_id] = replace(session, updated_at=now, expires_at=expires_at)
        self._ranges[session_id][received.start] = received
        return True

    async def declare_size(self, session_id: str, size: int, now: datetime) -> bool:
        session = self._sessions.get(session_id)
        if session is None or session.state is not SessionState.OPEN or session.size is not None:
            return False
        self._sessions[session_id] = replace(session, size=size, updated_at=now)
        return True

    async def restage(self, session_id: str, handle: str, ranges: list[ByteRange]) -> None:
        self._sessions[session_id] = replace(self._sessions[session_id], storage_handle=handle)
        held = self._ranges[session_id]
        for r in ranges:
            if r.start in held:
                held[r.start] = replace(held[r.start], tag=r.tag)

    async def set_state(
        self, session_id: str, old: SessionState, new: SessionState, now: datetime
    ) -> bool:
        session = self._sessions.get(session_id)
        if session is None or session.state is not old:
            return False
        self._sessions[session_id] = replace(session, state=new, updated_at=now)
        return True

    async def complete_session(
        self, session_id: str, entry: Entry, expires_at: datetime, outbox: Sequence[Event] = ()
    ) -> None:
        self._check_entry_name(entry)
        session = self._sessions[session_id]
        self._sessions[session_id] = replace(
            session,
            state=SessionState.FINISHED,
            file_id=entry.id,
            updated_at=entry.created_at,
            expires_at=expires_at,
        )
        self._entries[entry.id] = entry
        self._write_outbox(outbox)

    async def delete_session(self, session_id: str, outbox: Sequence[Event] = ()) -> None:
        self._sessions.pop(session_id, None)
        self._ranges.pop(session_id, None)
        self._write_outbox(outbox)

    async def mark_expired(
        self, session_id: str, now: datetime, outbox: Sequence[Event] = ()
    ) -> bool:
        session = self._sessions.get(session_id)
        if session is None or session.state not in ACTIVE_STATES or session.expires_at > now:
            return False
        self._sessions[session_id] = replace(session, state=SessionState.EXPIRED, updated_at=now)
        self._ranges[session_id] = {}
        self._write_outbox(outbox)
        return True

    # reaping and health

    async def expired_sessions(self, now: datetime, limit: int) -> list[UploadSession]:
        due = [
            s for s in self._sessions.values() if s.state in ACTIVE_STATES and s.expires_at <= now
        ]
        due.sort(key=lambda s: s.expires_at)
        return [self._with_ranges(s) for s in due[:limit]]

    async def purge_sessions(self, now: datetime, tombstone_for: timedelta) -> int:
        gone = [
            s.id
            for s in self._sessions.values()
            if (s.state is SessionState.FINISHED and s.expires_at <= now)
            or (s.state is SessionState.EXPIRED and s.expires_at <= now - tombstone_for)
        ]
        for session_id in gone:
            await self.delete_session(session_id)
        return len(gone)

    async def referenced_keys(self) -> set[str]:
        keys = {s.storage_key for s in self._sessions.values()}
        return keys | {e.storage_key for e in self._entries.values() if e.storage_key}

    async def open_usage(self) -> tuple[int, int]:
        active = [s for s in self._sessions.values() if s.state in ACTIVE_STATES]
        held = sum(r.size for s in active for r in self._ranges[s.id].values())
        return len(active), held

    async def ping(self) -> None:
        pass

    def close(self) -> None:
        pass

    # entries

    def _check_entry_name(self, entry: Entry) -> None:
        place = (entry.tenant, entry.drive_id, entry.parent_id, entry.name)
        for other in self._entries.values():
            if other.id != entry.id and (
                (other.tenant, other.drive_id, other.parent_id, other.name) == place
            ):
                raise _name_taken(entry.name)

    async def name_taken(self, tenant: Tenant, drive_id: str, parent_id: str, name: str) -> bool:
        place = (tenant, drive_id, parent_id, name)
        return any(
            (e.tenant, e.drive_id, e.parent_id, e.name) == place for e in self._entries.values()
        ) or self._open_named(tenant, drive_id, parent_id, name)

    async def get_entry(self, tenant: Tenant, entry_id: str) -> Entry | None:
        entry = self._entries.get(entry_id)
        return entry if entry is not None and entry.tenant == tenant else None

    async def insert_entry(self, entry: Entry, outbox: Sequence[Event] = ()) -> None:
        self._check_entry_name(entry)
        self._entries[entry.id] = entry
        self._write_outbox(outbox)

    async def update_entry(self, entry: Entry, outbox: Sequence[Event] = ()) -> None:
        self._check_entry_name(entry)
        # A file's size is fixed when it is made.
        self._entries[entry.id] = replace(entry, size=self._entries[entry.id].size)
        self._write_outbox(outbox)

    async def delete_entry(
        self, tenant: Tenant, entry_id: str, outbox: Sequence[Event] = ()
    ) -> None:
        if await self.get_entry(tenant, entry_id) is not None:
            del self._entries[entry_id]
            self._write_outbox(outbox)

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
    ) -> list[Entry]:
        found = [
            e
            for e in self._entries.values()
            if e.tenant == tenant
            and e.drive_id == drive_id
            and (parent_id is None or e.parent_id == parent_id)
            and (kind is None or e.kind is kind)
        ]

        def key(e: Entry) -> tuple[bool, object, str]:
            value = getattr(e, order_by)
            return (value is not None, value if value is not None else 0, e.id)

        found.sort(key=key, reverse=descending)
        return found[offset : offset + limit]

    async def has_children(self, tenant: Tenant, folder_id: str) -> bool:
        return any(
            e.tenant == tenant and e.parent_id == folder_id for e in self._entries.values()
        ) or any(s.folder_id == folder_id for s in self._active(tenant))
