"""Upload sessions and the byte ranges they received, in SQL."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from ..domain.events import Event
from ..domain.models import ByteRange, Entry, SessionState, SessionSummary, Tenant, UploadSession
from ..domain.paging import After
from ..domain.repositories import OpenLimits, Standing
from . import usage
from .accounts import quota_of
from .base import SqlBase
from .drive_hold import hold_drive
from .outbox import write_outbox
from .rows import (
    ACTIVE,
    INSERT_ENTRY,
    NAME_IN_UPLOADS,
    entry_values,
    metadata_text,
    name_taken_error,
    ranges_of,
    session_of,
    tenant_of,
)
from .schema import entries, ranges, sessions
from .summaries import range_summaries

# The statements of the upload path are built once. Building a fresh expression and its cache
# key cost more than running the query (py-spy: ~40 % of a session lookup, twice per part), and
# each comparison in it left a reference cycle (SQLAlchemy memoizes an operand's comparator on
# it) for the cyclic collector, whose passes stop every thread (http/cycle_wrappers.py).
_THE_SESSION = (
    sessions.c.id == sa.bindparam("sid"),
    sessions.c.app_id == sa.bindparam("app_id"),
    sessions.c.consumer_id == sa.bindparam("consumer_id"),
)
_SESSION = sa.select(sessions).where(*_THE_SESSION)
_RANGES = (
    sa.select(ranges).where(ranges.c.session_id == sa.bindparam("sid")).order_by(ranges.c.start)
)
# The session with its range at `start`, if recorded, in one statement (a range upload reads it
# under its locks).
_RANGE_COLUMNS = (
    ranges.c.start,
    ranges.c.size,
    ranges.c.sha1,
    ranges.c.sha256,
    ranges.c.tag,
    ranges.c.crc32c,
)
_SESSION_AND_RANGE = (
    sa.select(sessions, *(c.label(f"recorded_{c.name}") for c in _RANGE_COLUMNS))
    .select_from(
        sessions.outerjoin(
            ranges,
            sa.and_(ranges.c.session_id == sessions.c.id, ranges.c.start == sa.bindparam("start")),
        )
    )
    .where(*_THE_SESSION)
)
_FORGET_RANGE = ranges.delete().where(
    ranges.c.session_id == sa.bindparam("sid"), ranges.c.start == sa.bindparam("start")
)
_TOUCH_OPEN = (
    sessions.update()
    .where(sessions.c.id == sa.bindparam("sid"), sessions.c.state == SessionState.OPEN.value)
    .values(updated_at=sa.bindparam("now"), expires_at=sa.bindparam("expires"))
    .returning(sessions.c.size, sessions.c.app_id, sessions.c.consumer_id)
)
_RANGE_SIZE = sa.select(ranges.c.size).where(
    ranges.c.session_id == sa.bindparam("sid"), ranges.c.start == sa.bindparam("start")
)
# Locks the session's row (PostgreSQL) before its ranges or its consumer's counters change.
_HOLD_SESSION = (
    sa.select(sessions.c.size, sessions.c.state, sessions.c.app_id, sessions.c.consumer_id)
    .where(sessions.c.id == sa.bindparam("sid"))
    .with_for_update()
)
# An active session holding a name in a folder (every create asks).
_NAMED = sa.select(sessions).where(*NAME_IN_UPLOADS)
_SET_STATE = (
    sessions.update()
    .where(sessions.c.id == sa.bindparam("sid"), sessions.c.state == sa.bindparam("old"))
    .values(state=sa.bindparam("new"), updated_at=sa.bindparam("now"))
)
_FINISHED = (
    sessions.update()
    .where(sessions.c.id == sa.bindparam("sid"))
    .values(
        state=SessionState.FINISHED.value,
        file_id=sa.bindparam("file_id"),
        updated_at=sa.bindparam("now"),
        expires_at=sa.bindparam("expires"),
    )
)
# Inserts with their values bound at execution: one cached statement, where .values(**row)
# built a new one with a literal per column at each create (py-spy: ~15 % of a create's CPU).
_INSERT_SESSION = sessions.insert()
_FORGET_RANGES = ranges.delete().where(ranges.c.session_id == sa.bindparam("sid"))
_FORGET_SESSION = sessions.delete().where(sessions.c.id == sa.bindparam("sid"))
_RANGE_FIELDS = ("size", "sha1", "sha256", "tag", "crc32c", "recorded_at")


def _upsert_range(dialect: str) -> Any:
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(ranges)
    return insert.on_conflict_do_update(
        index_elements=["session_id", "start"],
        set_={name: insert.excluded[name] for name in _RANGE_FIELDS},
    )


_UPSERT_RANGE = {name: _upsert_range(name) for name in ("postgresql", "sqlite")}


def _record_sized() -> Any:
    """PostgreSQL, a part of a session of known size recorded in one statement, run in
    autocommit: one round trip instead of four (BEGIN, touch, upsert, COMMIT), each of them a
    thread's wait on the socket, for every part. The touch takes the row lock as in the
    transaction; the range goes in only if the session is open and of known size. It answers
    the touched row, if any (size NULL: not recorded, the caller takes the general path)."""
    touched = _TOUCH_OPEN.cte("touched")
    columns = ("session_id", "start", *_RANGE_FIELDS)
    # Named apart from the columns: an UPDATE takes a parameter named like one of its table's
    # columns as a value to set (a `size` here would have set the session's).
    values = [sa.bindparam(f"range_{name}", type_=ranges.c[name].type) for name in columns]
    insert = postgresql.insert(ranges).from_select(
        list(columns), sa.select(*values).where(touched.c.size.is_not(None))
    )
    upsert = insert.on_conflict_do_update(
        index_elements=["session_id", "start"],
        set_={name: insert.excluded[name] for name in _RANGE_FIELDS},
    )
    # A data-modifying WITH runs to completion whether or not the query reads it.
    return sa.select(touched.c.size).add_cte(upsert.cte("recorded"))


_RECORD_SIZED = _record_sized()


def _prefixed(row: dict[str, Any]) -> dict[str, Any]:
    return {f"range_{name}": value for name, value in row.items()}


def _session_values(session: UploadSession) -> dict[str, Any]:
    return {
        "id": session.id,
        "app_id": session.tenant.app_id,
        "consumer_id": session.tenant.consumer_id,
        "service_id": session.service_id,
        "drive_id": session.drive_id,
        "folder_id": session.folder_id,
        "name": session.name,
        "size": session.size,
        "part_size": session.part_size,
        "state": session.state.value,
        "storage_key": session.storage_key,
        "created_at": session.created_at,
        "updated_at": session.updated_at,
        "expires_at": session.expires_at,
        "idempotency_key": session.idempotency_key,
        "storage_handle": session.storage_handle,
        "mime_type": session.mime_type,
        "client_metadata": metadata_text(session.client_metadata),
        "direct": session.direct,
    }


class _Refused(Exception):
    """A limit refused the new session: its transaction rolls back."""

    def __init__(self, standing: Standing) -> None:
        self.standing = standing


def _admit(c: Connection, session: UploadSession, limits: OpenLimits) -> None:
    """Quota and open-session limits, checked and counted inside the inserting transaction."""
    tenant = session.tenant
    quota = quota_of(c, tenant, limits.default_quota)
    refused = usage.admit(c, tenant, session.size or 0, limits.max_open_sessions, quota)
    if refused is not None:
        raise _Refused(refused)


def _close(c: Connection, row: Any, session_id: str) -> None:
    """Take a session that was open (its row as _HOLD_SESSION read it) out of its consumer's
    counters, before its ranges go."""
    if row is None or row.state not in ACTIVE:
        return
    reserved = usage.reserved_by(c, session_id, row.size)
    usage.adjust(c, Tenant(row.app_id, row.consumer_id), sessions=-1, reserved=-reserved)


class SessionQueries(SqlBase):
    async def insert_session(
        self, session: UploadSession, limits: OpenLimits, outbox: Sequence[Event] = ()
    ) -> Standing | None:
        def work(c: Connection) -> None:
            hold_drive(c, session.tenant, session.drive_id)
            c.execute(_INSERT_SESSION, _session_values(session))
            _admit(c, session, limits)  # after the row: see usage.py on lock order
            write_outbox(c, outbox)

        try:
            await self._write(work)
        except sa.exc.IntegrityError:
            raise name_taken_error(session.name) from None
        except _Refused as refused:
            return refused.standing
        return None

    async def get_session(
        self,
        tenant: Tenant,
        session_id: str,
        with_ranges: bool = True,
        only_range: int | None = None,
    ) -> UploadSession | None:
        key = {"sid": session_id, "app_id": tenant.app_id, "consumer_id": tenant.consumer_id}
        if with_ranges:

            def with_all(c: Connection, bounded: bool) -> UploadSession | None:
                row = c.execute(_SESSION, key).first()
                if row is None:
                    return None
                return session_of(row, ranges_of(c, [session_id], bounded)[session_id])

            return await self._read_consistent(with_all)

        def work(c: Connection) -> UploadSession | None:
            if only_range is not None:
                row = c.execute(_SESSION_AND_RANGE, {**key, "start": only_range}).first()
                if row is None:
                    return None
                if row.recorded_start is None:
                    return session_of(row, ())
                held = ByteRange(
                    row.recorded_start,
                    row.recorded_size,
                    row.recorded_sha1,
                    row.recorded_sha256,
                    row.recorded_tag,
                    row.recorded_crc32c,
                )
                return session_of(row, (held,))
            row = c.execute(_SESSION, key).first()
            return None if row is None else session_of(row, ())

        return await self._read(work, small=True)

    async def session_by_idempotency_key(self, tenant: Tenant, key: str) -> UploadSession | None:
        def work(c: Connection) -> UploadSession | None:
            row = c.execute(
                sa.select(sessions).where(
                    tenant_of(sessions, tenant), sessions.c.idempotency_key == key
                )
            ).first()
            return None if row is None else session_of(row, ranges_of(c, [row.id])[row.id])

        return await self._read(work)

    async def active_session_named(
        self, tenant: Tenant, drive_id: str, folder_id: str, name: str
    ) -> UploadSession | None:
        key = {"app_id": tenant.app_id, "consumer_id": tenant.consumer_id}
        place = {"drive_id": drive_id, "parent_id": folder_id, "name": name}

        def work(c: Connection) -> UploadSession | None:
            row = c.execute(_NAMED, {**key, **place}).first()
            return None if row is None else session_of(row, ())

        return await self._read(work)

    async def list_sessions(
        self, tenant: Tenant, now: datetime, after: After | None, limit: int
    ) -> list[SessionSummary]:
        query = (
            sa.select(sessions)
            .where(
                tenant_of(sessions, tenant),
                sessions.c.state.in_(ACTIVE),
                sessions.c.expires_at > now,
            )
            .order_by(sessions.c.created_at, sessions.c.id)
            .limit(limit)
        )
        if after is not None:
            # A row-value comparison: both stores seek to it in the tenant's index.
            position = sa.tuple_(sessions.c.created_at, sessions.c.id)
            query = query.where(position > sa.tuple_(after.created_at, after.id))

        def work(c: Connection) -> list[SessionSummary]:
            rows = c.execute(query).all()
            held = range_summaries(c, [r.id for r in rows])
            return [SessionSummary(session_of(r, ()), *held[r.id]) for r in rows]

        return await self._read(work)

    async def forget_range(self, session_id: str, start: int) -> None:
        def work(c: Connection) -> None:
            session = c.execute(_HOLD_SESSION, {"sid": session_id}).first()
            key = {"sid": session_id, "start": start}
            held = c.execute(_RANGE_SIZE, key).scalar()
            c.execute(_FORGET_RANGE, key)
            if session is not None and session.state in ACTIVE and session.size is None:
                tenant = Tenant(session.app_id, session.consumer_id)
                usage.adjust(c, tenant, reserved=-(held or 0))

        await self._write(work)

    async def record_range(
        self, session_id: str, received: ByteRange, now: datetime, expires_at: datetime
    ) -> bool:
        row = {
            "session_id": session_id,
            "start": received.start,
            "size": received.size,
            "sha1": received.sha1,
            "sha256": received.sha256,
            "tag": received.tag,
            "crc32c": received.crc32c,
            "recorded_at": now,
        }
        touch = {"sid": session_id, "now": now, "expires": expires_at}
        if self._engine.dialect.name == "postgresql":
            touched = await self._autocommit(
                lambda c: c.execute(_RECORD_SIZED, {**touch, **_prefixed(row)}).first()
            )
            if touched is None:
                return False
            if touched.size is not None:
                return True

        def work(c: Connection) -> bool:
            # The conditional update takes the row lock, so a concurrent finish sees this part.
            touched = c.execute(_TOUCH_OPEN, touch).first()
            if touched is None:
                return False
            # Of unknown size, a session reserves what it holds: a replaced range counts once.
            unknown_size = touched.size is None
            if unknown_size:
                replaced = c.execute(_RANGE_SIZE, {"sid": session_id, "start": received.start})
                grown = received.size - (replaced.scalar() or 0)
            c.execute(_UPSERT_RANGE[c.dialect.name], row)
            if unknown_size:
                usage.adjust(c, Tenant(touched.app_id, touched.consumer_id), reserved=grown)
            return True

        return await self._write(work, small=True)

    async def restage(self, session_id: str, handle: str, ranges_now: list[ByteRange]) -> None:
        def work(c: Connection) -> None:
            c.execute(
                sessions.update().where(sessions.c.id == session_id).values(storage_handle=handle)
            )
            for held in ranges_now:
                c.execute(
                    ranges.update()
                    .where(ranges.c.session_id == session_id, ranges.c.start == held.start)
                    .values(tag=held.tag)
                )

        await self._write(work)

    async def set_state(
        self, session_id: str, old: SessionState, new: SessionState, now: datetime
    ) -> bool:
        values = {"sid": session_id, "old": old.value, "new": new.value, "now": now}
        return bool(await self._write(lambda c: c.execute(_SET_STATE, values).rowcount == 1))

    async def complete_session(
        self, session_id: str, entry: Entry, expires_at: datetime, outbox: Sequence[Event] = ()
    ) -> None:
        def work(c: Connection) -> None:
            hold_drive(c, entry.tenant, entry.drive_id)
            session = c.execute(_HOLD_SESSION, {"sid": session_id}).first()
            finished = {"sid": session_id, "file_id": entry.id, "now": entry.created_at}
            c.execute(_FINISHED, {**finished, "expires": expires_at})
            c.execute(INSERT_ENTRY, entry_values(entry))
            # The session's reservation gives way to the file's bytes.
            _close(c, session, session_id)
            usage.adjust(c, entry.tenant, stored=entry.size or 0)
            write_outbox(c, outbox)

        try:
            await self._write(work)
        except sa.exc.IntegrityError:
            raise name_taken_error(entry.name) from None

    async def delete_session(self, session_id: str, outbox: Sequence[Event] = ()) -> None:
        def work(c: Connection) -> None:
            session = c.execute(_HOLD_SESSION, {"sid": session_id}).first()
            _close(c, session, session_id)
            c.execute(_FORGET_RANGES, {"sid": session_id})
            c.execute(_FORGET_SESSION, {"sid": session_id})
            write_outbox(c, outbox)

        await self._write(work)

    # expiry

    async def expired_sessions(self, now: datetime, limit: int) -> list[UploadSession]:
        def work(c: Connection) -> list[UploadSession]:
            rows = c.execute(
                sa.select(sessions)
                .where(sessions.c.state.in_(ACTIVE), sessions.c.expires_at <= now)
                .order_by(sessions.c.expires_at)
                .limit(limit)
            ).all()
            by_id = ranges_of(c, [r.id for r in rows])
            return [session_of(r, by_id[r.id]) for r in rows]

        return await self._read(work)

    async def mark_expired(
        self, session_id: str, now: datetime, outbox: Sequence[Event] = ()
    ) -> bool:
        """Claim an expired session for reaping; exactly one caller ever gets True."""

        def work(c: Connection) -> bool:
            won = c.execute(
                sessions.update()
                .where(
                    sessions.c.id == session_id,
                    sessions.c.state.in_(ACTIVE),
                    sessions.c.expires_at <= now,
                )
                .values(state=SessionState.EXPIRED.value, updated_at=now)
                .returning(sessions.c.size, sessions.c.app_id, sessions.c.consumer_id)
            ).first()
            if won is None:
                return False
            reserved = usage.reserved_by(c, session_id, won.size)
            tenant = Tenant(won.app_id, won.consumer_id)
            c.execute(_FORGET_RANGES, {"sid": session_id})
            usage.adjust(c, tenant, sessions=-1, reserved=-reserved)
            write_outbox(c, outbox)
            return True

        return await self._write(work)

    async def purge_sessions(self, now: datetime, tombstone_for: timedelta) -> int:
        """Drop finished sessions past retention and expiry tombstones past theirs."""
        query = sessions.delete().where(
            sa.or_(
                sa.and_(
                    sessions.c.state == SessionState.FINISHED.value, sessions.c.expires_at <= now
                ),
                sa.and_(
                    sessions.c.state == SessionState.EXPIRED.value,
                    sessions.c.expires_at <= now - tombstone_for,
                ),
            )
        )
        return int(await self._write(lambda c: c.execute(query).rowcount))

    async def open_usage(self) -> tuple[int, int]:
        def work(c: Connection) -> tuple[int, int]:
            count = c.execute(
                sa.select(sa.func.count()).select_from(sessions).where(sessions.c.state.in_(ACTIVE))
            ).scalar_one()
            held = c.execute(
                sa.select(sa.func.coalesce(sa.func.sum(ranges.c.size), 0))
                .select_from(ranges.join(sessions, ranges.c.session_id == sessions.c.id))
                .where(sessions.c.state.in_(ACTIVE))
            ).scalar_one()
            return int(count), int(held)

        return await self._read(work)

    async def ping(self) -> None:
        # A pooled SQLite connection keeps working on a deleted file; check the file too.
        database = self._engine.url.database or ":memory:"
        on_disk = self._engine.dialect.name == "sqlite" and database != ":memory:"
        if on_disk and not os.path.exists(database):
            raise FileNotFoundError(f"SQLite database {database} is gone")
        await self._read(lambda c: c.execute(sa.text("SELECT 1")).scalar_one())

    async def referenced_keys(self) -> set[str]:
        def work(c: Connection) -> set[str]:
            keys = set(c.execute(sa.select(sessions.c.storage_key)).scalars())
            keys |= set(
                c.execute(
                    sa.select(entries.c.storage_key).where(entries.c.storage_key.is_not(None))
                ).scalars()
            )
            return keys

        return await self._read(work)
