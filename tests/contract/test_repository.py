"""The Repository contract, run on the memory fake, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from partway.domain.errors import NameTaken
from partway.domain.events import FileDeleted, SessionAborted, SessionCreated, SessionFinished
from partway.domain.models import (
    ByteRange,
    Entry,
    EntryKind,
    SessionState,
    Tenant,
    UploadSession,
    new_id,
)
from partway.domain.paging import After
from partway.domain.repositories import OpenLimits, Repository, Standing
from partway.metadata import migrate
from partway.metadata.base import INLINE_ROWS
from partway.metadata.engine import make_engine
from partway.metadata.sql import SqlRepository
from partway.threads import SQL

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TENANT = Tenant("app", "c")
OTHER = Tenant("app", "d")
OPEN = OpenLimits()


def go(scenario: Coroutine[Any, Any, None]) -> None:
    asyncio.run(scenario)


def a_session(name: str, size: int | None = 100, at: datetime = T0, **kw: Any) -> UploadSession:
    return UploadSession(
        id=new_id("ses"),
        tenant=kw.pop("tenant", TENANT),
        service_id="local",
        drive_id="default",
        folder_id="root",
        name=name,
        size=size,
        part_size=10,
        state=SessionState.OPEN,
        storage_key=new_id("obj"),
        created_at=at,
        updated_at=at,
        expires_at=at + timedelta(hours=1),
        **kw,
    )


def a_file(name: str, size: int = 5, parent: str = "root") -> Entry:
    return Entry(
        id=new_id("file"),
        tenant=TENANT,
        drive_id="default",
        parent_id=parent,
        name=name,
        kind=EntryKind.FILE,
        created_at=T0,
        updated_at=T0,
        size=size,
        service_id="local",
        storage_key=new_id("obj"),
        crc32c="0a72a4df",
    )


def test_ranges_are_recorded_replaced_and_forgotten_by_start(repo: Repository) -> None:
    async def scenario() -> None:
        s = a_session("r.bin")
        await repo.insert_session(s, OPEN)
        later = T0 + timedelta(minutes=5)
        assert await repo.record_range(s.id, ByteRange(10, 10, "a" * 40), later, later)
        assert await repo.record_range(s.id, ByteRange(0, 10, tag="t"), later, later)
        replaced = ByteRange(10, 7, crc32c="0a72a4df")
        assert await repo.record_range(s.id, replaced, later, later)
        got = await repo.get_session(TENANT, s.id)
        assert got is not None and got.expires_at == later
        assert got.ranges == (ByteRange(0, 10, tag="t"), replaced)
        one = await repo.get_session(TENANT, s.id, with_ranges=False, only_range=10)
        assert one is not None and one.ranges == (replaced,)
        none = await repo.get_session(TENANT, s.id, with_ranges=False, only_range=20)
        assert none is not None and none.ranges == ()
        await repo.restage(s.id, "new-handle", [ByteRange(0, 10, tag="t2")])
        await repo.forget_range(s.id, 10)
        got = await repo.get_session(TENANT, s.id)
        assert got is not None and got.storage_handle == "new-handle"
        assert got.ranges == (ByteRange(0, 10, tag="t2"),)
        assert await repo.get_session(OTHER, s.id) is None  # tenancy

    go(scenario())


def test_a_session_is_read_with_all_its_ranges_however_many(repo: Repository) -> None:
    # Past INLINE_ROWS, SQLite reads them again in a worker thread (SqlBase._read_consistent).
    counts = (0, 1, INLINE_ROWS, INLINE_ROWS + 1, 3 * INLINE_ROWS)

    async def scenario() -> None:
        for count in counts:
            s = a_session(f"many-{count}.bin", size=10 * max(count, 1))
            await repo.insert_session(s, OPEN)
            held = [ByteRange(10 * n, 10, tag=f"t{n}") for n in range(count)]
            for r in reversed(held):
                assert await repo.record_range(s.id, r, T0, T0)
            got = await repo.get_session(TENANT, s.id)
            assert got is not None and got.ranges == tuple(held)
            assert await repo.get_session(OTHER, s.id) is None

    go(scenario())


def test_on_sqlite_a_session_of_few_ranges_is_read_without_a_worker_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'c.db'}", durable=False)
    migrate.upgrade(engine)
    repo = SqlRepository(engine, durable=False)
    hops: list[object] = []
    real_run = SQL.run

    async def counted(fn: Any, /, *args: Any) -> Any:
        hops.append(fn)
        return await real_run(fn, *args)

    async def scenario() -> None:
        few, many = a_session("few.bin"), a_session("many.bin", size=10 * (INLINE_ROWS + 1))
        for s, count in ((few, 3), (many, INLINE_ROWS + 1)):
            await repo.insert_session(s, OPEN)
            for n in range(count):
                assert await repo.record_range(s.id, ByteRange(10 * n, 10), T0, T0)
        monkeypatch.setattr(SQL, "run", counted)
        got = await repo.get_session(TENANT, few.id)
        assert got is not None and len(got.ranges) == 3
        assert hops == []
        got = await repo.get_session(TENANT, many.id)
        assert got is not None and len(got.ranges) == INLINE_ROWS + 1
        assert len(hops) == 1

    try:
        go(scenario())
    finally:
        repo.close()
        engine.dispose()


def test_state_changes_are_compare_and_set(repo: Repository) -> None:
    async def scenario() -> None:
        s = a_session("f.bin", size=5)
        await repo.insert_session(s, OPEN)
        assert await repo.set_state(s.id, SessionState.OPEN, SessionState.FINISHING, T0)
        assert not await repo.set_state(s.id, SessionState.OPEN, SessionState.FINISHING, T0)
        assert not await repo.record_range(s.id, ByteRange(0, 5), T0, T0)  # not open
        entry = a_file("f.bin")
        await repo.complete_session(s.id, entry, T0 + timedelta(days=1))
        done = await repo.get_session(TENANT, s.id)
        assert done is not None and done.state is SessionState.FINISHED
        assert done.file_id == entry.id
        assert await repo.get_entry(TENANT, entry.id) == entry
        assert await repo.usage(TENANT) == 5

    go(scenario())


def test_names_are_reserved_by_open_sessions_and_entries(repo: Repository) -> None:
    async def scenario() -> None:
        s = a_session("n.bin", idempotency_key="key-1")
        await repo.insert_session(s, OPEN)
        assert await repo.name_taken(TENANT, "default", "root", "n.bin")
        assert not await repo.name_taken(OTHER, "default", "root", "n.bin")
        with pytest.raises(NameTaken):
            await repo.insert_session(a_session("n.bin"), OPEN)
        with pytest.raises(NameTaken):
            await repo.insert_session(a_session("other.bin", idempotency_key="key-1"), OPEN)
        found = await repo.session_by_idempotency_key(TENANT, "key-1")
        assert found is not None and found.id == s.id
        named = await repo.active_session_named(TENANT, "default", "root", "n.bin")
        assert named is not None and named.id == s.id
        await repo.insert_entry(a_file("e.bin"))
        with pytest.raises(NameTaken):
            await repo.insert_entry(a_file("e.bin"))
        await repo.delete_session(s.id)
        assert not await repo.name_taken(TENANT, "default", "root", "n.bin")

    go(scenario())


def test_admission_is_checked_with_the_insert(repo: Repository) -> None:
    async def scenario() -> None:
        limits = OpenLimits(default_quota=150, max_open_sessions=2)
        assert await repo.insert_session(a_session("a", size=100), limits) is None
        over = a_session("b", size=51)
        assert await repo.insert_session(over, limits) == Standing(1, 100, 150)
        assert await repo.get_session(TENANT, over.id) is None  # refused: nothing written
        unknown = a_session("c", size=None)
        assert await repo.insert_session(unknown, limits) is None
        assert await repo.insert_session(a_session("d", size=0), limits) == Standing(2, 100, 150)
        assert await repo.record_range(unknown.id, ByteRange(0, 30), T0, T0)
        assert await repo.record_range(unknown.id, ByteRange(0, 20), T0, T0)  # replaced
        assert await repo.usage(TENANT) == 120
        await repo.set_quota(TENANT, 1000)
        assert await repo.quota(TENANT, 150) == 1000
        await repo.set_quota(TENANT, None)
        assert await repo.quota(TENANT, 150) == 150
        assert await repo.open_usage() == (2, 20)

    go(scenario())


def test_sessions_are_listed_a_page_at_a_time_with_their_ranges(repo: Repository) -> None:
    async def scenario() -> None:
        made = [a_session(f"p{i}", at=T0 + timedelta(seconds=i // 2)) for i in range(5)]
        for s in made:
            await repo.insert_session(s, OPEN)
        await repo.record_range(made[0].id, ByteRange(0, 10), T0, T0 + timedelta(hours=1))
        await repo.record_range(made[0].id, ByteRange(10, 5), T0, T0 + timedelta(hours=1))
        await repo.record_range(made[0].id, ByteRange(30, 1), T0, T0 + timedelta(hours=1))
        order = sorted(made, key=lambda s: (s.created_at, s.id))
        first = await repo.list_sessions(TENANT, T0, None, 3)
        assert [x.session.id for x in first] == [s.id for s in order[:3]]
        last = first[-1].session
        rest = await repo.list_sessions(TENANT, T0, After(last.created_at, last.id), 3)
        assert [x.session.id for x in rest] == [s.id for s in order[3:]]
        summary = next(x for x in first + rest if x.session.id == made[0].id)
        assert (summary.range_count, summary.byte_ranges) == (3, ((0, 14), (30, 30)))
        assert await repo.list_sessions(TENANT, T0 + timedelta(hours=2), None, 10) == []

    go(scenario())


def test_expiry_is_claimed_once_and_rows_are_purged(repo: Repository) -> None:
    async def scenario() -> None:
        s = a_session("x.bin", size=None)
        await repo.insert_session(s, OPEN)
        await repo.record_range(s.id, ByteRange(0, 10), T0, T0 + timedelta(hours=1))
        late = T0 + timedelta(hours=2)
        assert [e.id for e in await repo.expired_sessions(late, 10)] == [s.id]
        assert not await repo.mark_expired(s.id, T0)  # not due yet
        assert await repo.mark_expired(s.id, late)
        assert not await repo.mark_expired(s.id, late)
        assert await repo.expired_sessions(late, 10) == []
        assert await repo.usage(TENANT) == 0
        assert s.storage_key in await repo.referenced_keys()
        assert await repo.purge_sessions(late + timedelta(hours=2), timedelta(hours=1)) == 1
        assert await repo.get_session(TENANT, s.id) is None
        await repo.ping()

    go(scenario())


def test_a_size_declared_later_is_kept_once_and_reserved(repo: Repository) -> None:
    async def scenario() -> None:
        said = (("filename", "d.csv"), ("filetype", "text/csv"))
        s = a_session("d.csv", size=None, mime_type="text/csv", client_metadata=said)
        assert await repo.insert_session(s, OPEN) is None
        assert await repo.record_range(s.id, ByteRange(0, 30), T0, T0)
        assert await repo.usage(TENANT) == 30  # of unknown size: what it holds
        later = T0 + timedelta(minutes=1)
        assert await repo.declare_size(s.id, 80, later)
        assert not await repo.declare_size(s.id, 90, later)  # once
        got = await repo.get_session(TENANT, s.id)
        assert got is not None and got.size == 80
        assert (got.mime_type, got.client_metadata) == ("text/csv", said)
        assert await repo.usage(TENANT) == 80  # now its whole size
        assert await repo.record_range(s.id, ByteRange(30, 50), later, later)
        assert await repo.usage(TENANT) == 80
        typed = replace(a_file("d.csv", size=80), mime_type="text/csv")
        await repo.complete_session(s.id, typed, later)
        assert await repo.usage(TENANT) == 80  # stored, no longer reserved
        entry = await repo.get_entry(TENANT, typed.id)
        assert entry is not None and entry.mime_type == "text/csv"
        assert not await repo.declare_size(s.id, 80, later)  # finished

    go(scenario())


def test_entries_are_listed_updated_and_deleted(repo: Repository) -> None:
    async def scenario() -> None:
        folder = Entry(new_id("fld"), TENANT, "default", "root", "dir", EntryKind.FOLDER, T0, T0)
        await repo.insert_entry(folder)
        files = [a_file(f"f{i}", size=i, parent=folder.id) for i in (3, 1, 2)]
        for f in files:
            await repo.insert_entry(f)
        assert await repo.has_children(TENANT, folder.id)
        listed = await repo.list_entries(
            TENANT, "default", folder.id, EntryKind.FILE, "size", True, 1, 10
        )
        assert [e.size for e in listed] == [2, 1]
        renamed = Entry(**{**files[0].__dict__, "name": "g", "size": 999})
        await repo.update_entry(renamed)
        got = await repo.get_entry(TENANT, files[0].id)
        assert got is not None and (got.name, got.size) == ("g", 3)
        assert got.crc32c == "0a72a4df"
        with pytest.raises(NameTaken):
            await repo.update_entry(Entry(**{**files[1].__dict__, "name": "g"}))
        await repo.delete_entry(OTHER, files[1].id)  # another tenant's: nothing happens
        assert await repo.get_entry(TENANT, files[1].id) is not None
        for f in files:
            await repo.delete_entry(TENANT, f.id)
        assert not await repo.has_children(TENANT, folder.id)
        assert await repo.usage(TENANT) == 0

    go(scenario())


def test_keys_resolve_to_their_app(repo: Repository) -> None:
    async def scenario() -> None:
        await repo.add_key("key_1", "app-1", "hash-1", T0)
        assert await repo.app_for_key("hash-1") == "app-1"
        assert await repo.app_for_key("hash-2") is None

    go(scenario())


def test_durable_events_commit_with_their_change_or_not_at_all(repo: Repository) -> None:
    async def scenario() -> None:
        s = a_session("o.bin", size=5)
        created = SessionCreated(s.id, TENANT, "local", 5, T0)
        await repo.insert_session(s, OPEN, (created,))
        clash = a_session("o.bin", size=5)
        with pytest.raises(NameTaken):  # refused: its event must not be written
            await repo.insert_session(clash, OPEN, (SessionCreated(clash.id, TENANT, "l", 5, T0),))
        entry = a_file("o.bin")
        finished = SessionFinished(s.id, TENANT, entry.id, 5, T0)
        await repo.complete_session(s.id, entry, T0, (finished,))
        await repo.delete_entry(TENANT, entry.id, (FileDeleted(entry.id, TENANT, 5, T0),))
        gone = a_session("gone.bin")
        await repo.insert_session(gone, OPEN)
        await repo.delete_session(gone.id, (SessionAborted(gone.id, TENANT, T0),))
        records = await repo.outbox_after(0, 10)
        kinds = [(r.kind, r.entity_id) for r in records]
        assert kinds == [
            ("upload_session.created", s.id),
            ("file.created", entry.id),
            ("file.deleted", entry.id),
            ("upload_session.aborted", gone.id),
        ]
        assert records[0].tenant == TENANT and records[0].occurred_at == T0
        assert records[1].payload["session"] == s.id and records[1].payload["size"] == 5
        assert await repo.outbox_after(records[1].id, 1) == [records[2]]

    go(scenario())
