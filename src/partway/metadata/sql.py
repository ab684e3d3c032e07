"""The metadata repository over SQLAlchemy Core. Blocking calls run in worker threads."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, Row

from ..domain.errors import NameTaken
from ..domain.models import (
    Entry,
    EntryKind,
    Part,
    SessionState,
    Tenant,
    UploadSession,
    new_id,
)
from .schema import api_keys, entries, parts, sessions

T = TypeVar("T")


def _name_taken(name: str) -> NameTaken:
    return NameTaken(f"the folder already has an entry or an upload in progress named {name!r}")


def _tenant_of(table: sa.Table, tenant: Tenant) -> sa.ColumnElement[bool]:
    return sa.and_(table.c.app_id == tenant.app_id, table.c.consumer_id == tenant.consumer_id)


def _session(row: Row[Any], session_parts: tuple[Part, ...]) -> UploadSession:
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
        parts=session_parts,
        idempotency_key=row.idempotency_key,
    )


def _parts_of(c: Connection, session_ids: list[str]) -> dict[str, tuple[Part, ...]]:
    found: dict[str, list[Part]] = {sid: [] for sid in session_ids}
    if session_ids:
        rows = c.execute(
            sa.select(parts)
            .where(parts.c.session_id.in_(session_ids))
            .order_by(parts.c.session_id, parts.c.number)
        )
        for p in rows:
            found[p.session_id].append(Part(p.number, p.size, p.sha1, p.sha256))
    return {sid: tuple(found_parts) for sid, found_parts in found.items()}


def _entry(row: Row[Any]) -> Entry:
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
    )


def _entry_values(entry: Entry) -> dict[str, Any]:
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
        "created_at": entry.created_at,
        "updated_at": entry.updated_at,
    }


class SqlRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def _tx(self, work: Callable[[Connection], T]) -> T:
        def run() -> T:
            with self._engine.begin() as conn:
                return work(conn)

        return await asyncio.to_thread(run)

    # keys

    async def add_key(self, key_id: str, app_id: str, key_hash: str, now: datetime) -> None:
        values = {"id": key_id, "app_id": app_id, "key_hash": key_hash, "created_at": now}
        await self._tx(lambda c: c.execute(api_keys.insert().values(**values)))

    async def app_for_key(self, key_hash: str) -> str | None:
        query = sa.select(api_keys.c.app_id).where(
            api_keys.c.key_hash == key_hash, api_keys.c.revoked_at.is_(None)
        )
        return await self._tx(lambda c: c.execute(query).scalar_one_or_none())

    # sessions

    async def insert_session(self, session: UploadSession) -> None:
        values = {
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
        }
        try:
            await self._tx(lambda c: c.execute(sessions.insert().values(**values)))
        except sa.exc.IntegrityError:
            raise _name_taken(session.name) from None

    async def get_session(self, tenant: Tenant, session_id: str) -> UploadSession | None:
        def work(c: Connection) -> UploadSession | None:
            row = c.execute(
                sa.select(sessions).where(sessions.c.id == session_id, _tenant_of(sessions, tenant))
            ).first()
            return None if row is None else _session(row, _parts_of(c, [row.id])[row.id])

        return await self._tx(work)

    async def session_by_idempotency_key(self, tenant: Tenant, key: str) -> UploadSession | None:
        def work(c: Connection) -> UploadSession | None:
            row = c.execute(
                sa.select(sessions).where(
                    _tenant_of(sessions, tenant), sessions.c.idempotency_key == key
                )
            ).first()
            return None if row is None else _session(row, _parts_of(c, [row.id])[row.id])

        return await self._tx(work)

    async def list_sessions(self, tenant: Tenant, now: datetime) -> list[UploadSession]:
        def work(c: Connection) -> list[UploadSession]:
            rows = c.execute(
                sa.select(sessions)
                .where(
                    _tenant_of(sessions, tenant),
                    sessions.c.state != SessionState.FINISHED.value,
                    sessions.c.expires_at > now,
                )
                .order_by(sessions.c.created_at, sessions.c.id)
                .limit(1000)
            ).all()
            by_id = _parts_of(c, [r.id for r in rows])
            return [_session(r, by_id[r.id]) for r in rows]

        return await self._tx(work)

    async def forget_part(self, session_id: str, number: int) -> None:
        query = parts.delete().where(parts.c.session_id == session_id, parts.c.number == number)
        await self._tx(lambda c: c.execute(query))

    async def record_part(
        self, session_id: str, part: Part, now: datetime, expires_at: datetime
    ) -> bool:
        def work(c: Connection) -> bool:
            # The conditional update takes the row lock, so a concurrent finish sees this part.
            touched = c.execute(
                sessions.update()
                .where(sessions.c.id == session_id, sessions.c.state == SessionState.OPEN.value)
                .values(updated_at=now, expires_at=expires_at)
            ).rowcount
            if touched != 1:
                return False
            c.execute(
                parts.delete().where(
                    parts.c.session_id == session_id, parts.c.number == part.number
                )
            )
            c.execute(
                parts.insert().values(
                    session_id=session_id,
                    number=part.number,
                    size=part.size,
                    sha1=part.sha1,
                    sha256=part.sha256,
                    recorded_at=now,
                )
            )
            return True

        return await self._tx(work)

    async def set_state(
        self, session_id: str, old: SessionState, new: SessionState, now: datetime
    ) -> bool:
        query = (
            sessions.update()
            .where(sessions.c.id == session_id, sessions.c.state == old.value)
            .values(state=new.value, updated_at=now)
        )
        return bool(await self._tx(lambda c: c.execute(query).rowcount == 1))

    async def complete_session(self, session_id: str, entry: Entry, expires_at: datetime) -> None:
        def work(c: Connection) -> None:
            c.execute(
                sessions.update()
                .where(sessions.c.id == session_id)
                .values(
                    state=SessionState.FINISHED.value,
                    file_id=entry.id,
                    updated_at=entry.created_at,
                    expires_at=expires_at,
                )
            )
            c.execute(entries.insert().values(**_entry_values(entry)))

        try:
            await self._tx(work)
        except sa.exc.IntegrityError:
            raise _name_taken(entry.name) from None

    async def delete_session(self, session_id: str) -> None:
        def work(c: Connection) -> None:
            c.execute(parts.delete().where(parts.c.session_id == session_id))
            c.execute(sessions.delete().where(sessions.c.id == session_id))

        await self._tx(work)

    # entries

    async def name_taken(self, tenant: Tenant, drive_id: str, parent_id: str, name: str) -> bool:
        def work(c: Connection) -> bool:
            in_entries = c.execute(
                sa.select(entries.c.id).where(
                    _tenant_of(entries, tenant),
                    entries.c.drive_id == drive_id,
                    entries.c.parent_id == parent_id,
                    entries.c.name == name,
                )
            ).first()
            if in_entries is not None:
                return True
            in_uploads = c.execute(
                sa.select(sessions.c.id).where(
                    _tenant_of(sessions, tenant),
                    sessions.c.drive_id == drive_id,
                    sessions.c.folder_id == parent_id,
                    sessions.c.name == name,
                    sessions.c.state != SessionState.FINISHED.value,
                )
            ).first()
            return in_uploads is not None

        return await self._tx(work)

    async def get_entry(self, tenant: Tenant, entry_id: str) -> Entry | None:
        query = sa.select(entries).where(entries.c.id == entry_id, _tenant_of(entries, tenant))

        def work(c: Connection) -> Entry | None:
            row = c.execute(query).first()
            return None if row is None else _entry(row)

        return await self._tx(work)

    async def insert_entry(self, entry: Entry) -> None:
        try:
            await self._tx(lambda c: c.execute(entries.insert().values(**_entry_values(entry))))
        except sa.exc.IntegrityError:
            raise _name_taken(entry.name) from None

    async def update_entry(self, entry: Entry) -> None:
        values = _entry_values(entry)
        del values["id"]
        query = entries.update().where(entries.c.id == entry.id).values(**values)
        try:
            await self._tx(lambda c: c.execute(query))
        except sa.exc.IntegrityError:
            raise _name_taken(entry.name) from None

    async def delete_entry(self, tenant: Tenant, entry_id: str) -> None:
        query = entries.delete().where(entries.c.id == entry_id, _tenant_of(entries, tenant))
        await self._tx(lambda c: c.execute(query))

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
        column = entries.c[order_by]
        query = sa.select(entries).where(
            _tenant_of(entries, tenant), entries.c.drive_id == drive_id
        )
        if parent_id is not None:
            query = query.where(entries.c.parent_id == parent_id)
        if kind is not None:
            query = query.where(entries.c.kind == kind.value)
        order = [column.desc(), entries.c.id.desc()] if descending else [column, entries.c.id]
        query = query.order_by(*order).offset(offset).limit(limit)
        return await self._tx(lambda c: [_entry(r) for r in c.execute(query)])

    async def has_children(self, tenant: Tenant, folder_id: str) -> bool:
        def work(c: Connection) -> bool:
            child = c.execute(
                sa.select(entries.c.id)
                .where(_tenant_of(entries, tenant), entries.c.parent_id == folder_id)
                .limit(1)
            ).first()
            upload = c.execute(
                sa.select(sessions.c.id)
                .where(
                    _tenant_of(sessions, tenant),
                    sessions.c.folder_id == folder_id,
                    sessions.c.state != SessionState.FINISHED.value,
                )
                .limit(1)
            ).first()
            return child is not None or upload is not None

        return await self._tx(work)


def new_key_id() -> str:
    return new_id("key")
