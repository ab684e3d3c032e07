"""The sessions list on each metadata store: byte ranges and part counts computed in SQL agree
with the domain's own arithmetic, for any set of recorded parts, page by page."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from partway.domain.errors import InvalidInput
from partway.domain.models import ByteRange, NewSession, UploadSession
from partway.domain.policy import merged_ranges

from ..backends import Backend
from .helpers import TENANT, Clock, make_services, run

PART_SIZE = 10


def random_parts(rng: random.Random) -> list[ByteRange]:
    """Any parts at all, as SQL may hold them: gaps, short and empty parts anywhere."""
    numbers = sorted(rng.sample(range(12), rng.randint(0, 12)))
    sizes = [PART_SIZE, PART_SIZE, PART_SIZE, 3, 0]
    return [ByteRange(n * PART_SIZE, rng.choice(sizes)) for n in numbers]


def test_ranges_and_counts_match_the_domain_arithmetic(backend: Backend, clock: Clock) -> None:
    services = make_services(backend, clock, session_ttl_seconds=3600)
    rng = random.Random(15)

    async def scenario() -> None:
        made: list[tuple[UploadSession, list[ByteRange]]] = []
        for i in range(40):
            clock.now += timedelta(seconds=1) if i % 3 else timedelta(0)  # ties, by id
            session = await services.uploads.create(
                TENANT, backend.service_id, NewSession(f"r{i}.bin", "root", None), PART_SIZE
            )
            parts = random_parts(rng)
            for part in parts:
                await services.repo.record_range(session.id, part, clock.now, session.expires_at)
            made.append((session, parts))
        made.sort(key=lambda m: (m[0].created_at, m[0].id))

        listed = []
        cursor = None
        while True:
            page = await services.uploads.list_open(TENANT, cursor, 7)
            listed += page.items
            cursor = page.next_cursor
            if cursor is None:
                break
        assert [s.session.id for s in listed] == [m[0].id for m in made]
        for summary, (_, parts) in zip(listed, made, strict=True):
            assert summary.range_count == len(parts)
            assert list(summary.byte_ranges) == merged_ranges(parts)
            assert summary.session.ranges == ()

    run(scenario(), services)


def test_expired_and_closed_sessions_are_not_listed(backend: Backend, clock: Clock) -> None:
    services = make_services(backend, clock, session_ttl_seconds=3600)
    uploads = services.uploads

    async def scenario() -> None:
        stale = await uploads.create(TENANT, backend.service_id, NewSession("a", "root", 1))
        clock.now += timedelta(minutes=40)
        fresh = await uploads.create(TENANT, backend.service_id, NewSession("b", "root", 1))
        gone = await uploads.create(TENANT, backend.service_id, NewSession("c", "root", 1))
        await uploads.abort(TENANT, gone.id)
        clock.now += timedelta(minutes=30)
        page = await uploads.list_open(TENANT, None, 20)
        assert [s.session.id for s in page.items] == [fresh.id]
        assert stale.id != fresh.id and page.next_cursor is None
        for limit in (0, 201):
            with pytest.raises(InvalidInput):
                await uploads.list_open(TENANT, None, limit)

    run(scenario(), services)
