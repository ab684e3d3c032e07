"""Per-consumer counters (open sessions, reserved bytes, stored bytes) stay equal to what the
rows say through every way a session opens or closes, and admit exactly up to the limits under
concurrent creates through two service instances (two connection pools: two processes' worth)."""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta

import pytest
import sqlalchemy as sa

from partway.domain.digests import parse_digest
from partway.domain.errors import DigestMismatch, QuotaExceeded, TooManySessions
from partway.domain.models import NewSession, Tenant, UploadSession
from partway.metadata.engine import make_engine
from partway.services import Services

from ..backends import Backend
from ..e2e.helpers import sha1_header
from .helpers import TENANT, Clock, body, make_services, run, upload_part

PART = 5 * 1024 * 1024  # S3's smallest part, so both backends take the same uploads
OTHER = Tenant("app", "someone-else")
Counts = dict[tuple[str, str], tuple[int, int, int]]

# What the counters must equal: the sums they replace, straight from the rows.
RECOUNT = """
SELECT app_id, consumer_id, SUM(open_sessions), SUM(reserved), SUM(stored) FROM (
    SELECT s.app_id, s.consumer_id, 1 AS open_sessions,
           COALESCE(s.size, (SELECT COALESCE(SUM(p.size), 0) FROM upload_ranges p
                             WHERE p.session_id = s.id)) AS reserved,
           0 AS stored
    FROM upload_sessions s WHERE s.state IN ('open', 'finishing')
    UNION ALL
    SELECT app_id, consumer_id, 0, 0, COALESCE(size, 0) FROM entries WHERE kind = 'file'
) AS rows GROUP BY app_id, consumer_id
"""
COUNTERS = (
    "SELECT app_id, consumer_id, open_sessions, reserved_bytes, stored_bytes FROM tenant_usage"
)


def read(services: Services, query: str) -> Counts:
    engine = make_engine(services.settings.metadata_url())
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(query)).all()
    finally:
        engine.dispose()
    found = {(r[0], r[1]): (int(r[2]), int(r[3]), int(r[4])) for r in rows}
    return {tenant: counts for tenant, counts in found.items() if counts != (0, 0, 0)}


def assert_exact(services: Services) -> Counts:
    counters = read(services, COUNTERS)
    assert counters == read(services, RECOUNT)
    return counters


def usage_services(backend: Backend, clock: Clock, **overrides: object) -> Services:
    return make_services(
        backend, clock, default_part_size=PART, session_ttl_seconds=3600, **overrides
    )


async def create(
    services: Services, name: str, size: int | None, tenant: Tenant = TENANT
) -> UploadSession:
    service = services.settings.default_service
    return await services.uploads.create(tenant, service, NewSession(name, "root", size))


async def put(services: Services, session: UploadSession, number: int, data: bytes) -> None:
    await upload_part(
        services.uploads, session.tenant, session.id, number, body(data), len(data), None
    )


def test_counters_follow_create_part_finish_abort_expire(backend: Backend, clock: Clock) -> None:
    services = usage_services(backend, clock)
    uploads = services.uploads
    key = (TENANT.app_id, TENANT.consumer_id)
    full = os.urandom(PART)

    async def scenario() -> None:
        declared = await create(services, "declared.bin", 2 * PART)
        streamed = await create(services, "streamed.bin", None)
        await create(services, "theirs.bin", 7, OTHER)
        assert assert_exact(services)[key] == (2, 2 * PART, 0)

        # Unknown size: what the session holds counts, replaced parts count once.
        await put(services, streamed, 0, full)
        await put(services, streamed, 1, b"abc")
        await put(services, streamed, 1, b"abcdefg")
        assert assert_exact(services)[key] == (2, 3 * PART + 7, 0)

        # A failed whole-file check leaves the session open and the counts alone.
        with pytest.raises(DigestMismatch):
            await uploads.finish(TENANT, streamed.id, parse_digest(sha1_header(b"wrong")))
        assert assert_exact(services)[key] == (2, 3 * PART + 7, 0)
        streamed_file = await uploads.finish(TENANT, streamed.id, None)
        assert assert_exact(services)[key] == (1, 2 * PART, PART + 7)

        small = await create(services, "small.bin", 3)
        await put(services, small, 0, b"xyz")
        small_file = await uploads.finish(TENANT, small.id, None)
        assert assert_exact(services)[key] == (1, 2 * PART, PART + 10)

        await put(services, declared, 0, full)
        await uploads.abort(TENANT, declared.id)
        partial = await create(services, "partial.bin", None)
        await put(services, partial, 0, full)
        await uploads.abort(TENANT, partial.id)
        assert assert_exact(services)[key] == (0, 0, PART + 10)

        # Expiry, by the reaper and by a create that needs the name of an expired session.
        await put(services, await create(services, "stale.bin", None), 0, full)
        await create(services, "held.bin", 9)
        clock.now += timedelta(hours=2)
        await create(services, "held.bin", 4)
        assert assert_exact(services)[key] == (2, PART + 4, PART + 10)
        assert (await services.reaper.run_once(sweep_orphans=False)).expired == 2
        assert assert_exact(services)[key] == (1, 4, PART + 10)

        await services.files.delete_file(TENANT, small_file.id)
        await services.files.create_folder(TENANT, "folder", "root", None, None)
        assert assert_exact(services)[key] == (1, 4, PART + 7)
        assert await services.repo.usage(TENANT) == PART + 11
        await services.files.delete_file(TENANT, streamed_file.id)
        assert assert_exact(services)[key] == (1, 4, 0)

    run(scenario(), services)


def test_open_session_limit_is_exact_under_concurrent_creates(
    backend: Backend, clock: Clock
) -> None:
    a = usage_services(backend, clock, max_open_sessions=5)
    b = usage_services(backend, clock, max_open_sessions=5)
    key = (TENANT.app_id, TENANT.consumer_id)

    async def scenario() -> None:
        first = [await create(a, f"open{n}.bin", 1) for n in range(3)]
        results = await asyncio.gather(
            *(create((a, b)[n % 2], f"race{n}.bin", 1) for n in range(12)),
            return_exceptions=True,
        )
        made = [r for r in results if isinstance(r, UploadSession)]
        refused = [r for r in results if isinstance(r, TooManySessions)]
        assert (len(made), len(refused)) == (2, 10), results
        assert "5 open upload sessions" in str(refused[0])
        assert assert_exact(a)[key] == (5, 5, 0)
        await b.uploads.abort(TENANT, first[0].id)
        again = await asyncio.gather(
            *(create((a, b)[n % 2], f"again{n}.bin", 1) for n in range(4)),
            return_exceptions=True,
        )
        assert sum(isinstance(r, UploadSession) for r in again) == 1, again
        assert assert_exact(a)[key] == (5, 5, 0)
        # Another consumer has a limit of its own.
        await create(b, "elsewhere.bin", 1, OTHER)

    run(scenario(), a, b)


def test_quota_is_exact_under_concurrent_creates_of_two_instances(
    backend: Backend, clock: Clock
) -> None:
    a = usage_services(backend, clock, default_quota_bytes=10 * PART)
    b = usage_services(backend, clock, default_quota_bytes=10 * PART)
    key = (TENANT.app_id, TENANT.consumer_id)

    async def scenario() -> None:
        stored = await create(a, "stored.bin", PART)
        await put(a, stored, 0, os.urandom(PART))
        await a.uploads.finish(TENANT, stored.id, None)
        await create(a, "held.bin", 3 * PART)
        results = await asyncio.gather(
            *(create((a, b)[n % 2], f"q{n}.bin", PART) for n in range(12)),
            return_exceptions=True,
        )
        made = [r for r in results if isinstance(r, UploadSession)]
        refused = [r for r in results if isinstance(r, QuotaExceeded)]
        assert (len(made), len(refused)) == (6, 6), results
        assert assert_exact(a)[key] == (7, 9 * PART, PART)
        assert await b.repo.usage(TENANT) == 10 * PART

    run(scenario(), a, b)
