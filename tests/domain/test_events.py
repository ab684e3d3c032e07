"""Events on the fakes: each change publishes its typed event to the sinks, and the durable ones
are in the outbox, written with the change."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from partway.domain.errors import WrongPartSize
from partway.domain.events import (
    Event,
    RangeRecorded,
    RangeRejected,
    ReaperRan,
    SessionAborted,
    SessionCreated,
    SessionExpired,
    SessionFinished,
)
from partway.domain.models import NewSession, Tenant
from partway.domain.policy import PartPolicy
from partway.domain.reaper import Reaper
from partway.domain.rules import PartRule
from partway.domain.uploads import Lifetimes, UploadService
from partway.locks.memory import MemoryLocks
from partway.metadata.memory import MemoryRepository
from partway.storage.memory import MemoryStorage

TENANT = Tenant("app", "consumer")


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def publish(self, event: Event) -> None:
        self.events.append(event)


async def chunks(data: bytes):  # type: ignore[no-untyped-def]
    yield data


def test_lifecycle_events_are_published_and_the_durable_ones_kept() -> None:
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    repo, sink = MemoryRepository(), Recorder()
    storages = {"mem": MemoryStorage()}
    lifetimes = Lifetimes(session_ttl=timedelta(hours=1))
    uploads = UploadService(
        repo,
        storages,
        MemoryLocks(),
        PartPolicy(default_part_size=4),
        lifetimes,
        lambda: now[0],
        events=sink,
    )
    reaper = Reaper(uploads, repo, storages, lifetimes, lambda: now[0], timedelta(0), sink)

    async def scenario() -> None:
        kept = await uploads.create(TENANT, "mem", NewSession("a.bin", "root", 4))
        rule = PartRule(0, uploads.policy)
        with pytest.raises(WrongPartSize):
            await uploads.write_range(TENANT, kept.id, rule, chunks(b"abc"), 3, None)
        await uploads.write_range(TENANT, kept.id, rule, chunks(b"abcd"), 4, None)
        entry = await uploads.finish(TENANT, kept.id, None)
        dropped = await uploads.create(TENANT, "mem", NewSession("b.bin", "root", 1))
        await uploads.abort(TENANT, dropped.id)
        late = await uploads.create(TENANT, "mem", NewSession("c.bin", "root", 1))
        now[0] += timedelta(hours=2)
        await reaper.run_once()
        assert [type(e) for e in sink.events] == [
            SessionCreated,
            RangeRejected,
            RangeRecorded,
            SessionFinished,
            SessionCreated,
            SessionAborted,
            SessionCreated,
            SessionExpired,
            ReaperRan,
        ]
        assert sink.events[2] == RangeRecorded(kept.id, 0, 4, 0)
        assert sink.events[1] == RangeRejected(kept.id, 0, "size")
        outbox = [(r.kind, r.entity_id) for r in await repo.outbox_after(0, 100)]
        assert outbox == [
            ("upload_session.created", kept.id),
            ("file.created", entry.id),
            ("upload_session.created", dropped.id),
            ("upload_session.aborted", dropped.id),
            ("upload_session.created", late.id),
            ("upload_session.expired", late.id),
        ]

    asyncio.run(scenario())
