"""The upload service on in-memory fakes (store, repository, locks): every rule of sessions,
ranges and the Apideck part policy, in milliseconds. The same rules run over the real backends
in tests/integration/test_backend_contract.py."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import AsyncIterator, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from partway.domain.digests import Digest, parse_digest
from partway.domain.errors import (
    DigestMismatch,
    InvalidInput,
    InvalidState,
    NameTaken,
    NotFound,
    PayloadTooLarge,
    QuotaExceeded,
    TooManySessions,
    WrongPartSize,
)
from partway.domain.models import NewSession, SessionState, Tenant, UploadSession
from partway.domain.policy import StorageCapabilities
from partway.domain.rules import PartRule
from partway.services import Services

from ..bodies import MemoryBody
from ..fakes import SERVICE, fake_services

TENANT = Tenant("app", "consumer")
PART = 8
GRID_ONLY = StorageCapabilities(
    min_part_size=1, max_part_size=1 << 30, max_parts=100, writes_in_place=False
)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


async def chunks(data: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(data), 3):
        yield data[i : i + 3]


def sha1(data: bytes) -> Digest | None:
    return parse_digest("sha=" + base64.b64encode(hashlib.sha1(data).digest()).decode())


def go(scenario: Coroutine[Any, Any, None]) -> None:
    asyncio.run(scenario)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["in-place", "grid-only"])
def services(request: pytest.FixtureRequest, clock: Clock) -> Services:
    """Each test on a store that writes anywhere and one that takes ranges on the grid only."""
    caps = (
        GRID_ONLY
        if request.param == "grid-only"
        else StorageCapabilities(1, 1 << 30, 100_000, True)
    )
    return fake_services(clock, caps, default_part_size=PART, session_ttl_seconds=3600)


async def create(services: Services, name: str, size: int | None) -> UploadSession:
    return await services.uploads.create(TENANT, SERVICE, NewSession(name, "root", size))


async def put(
    services: Services, session_id: str, number: int, data: bytes, digest: Digest | None = None
) -> UploadSession:
    uploads = services.uploads
    rule = PartRule(number, uploads.policy)
    return await uploads.write_range(TENANT, session_id, rule, chunks(data), len(data), digest)


async def read(services: Services, key: str, size: int) -> bytes:
    storage = services.uploads.storage(SERVICE)
    return b"".join([b async for b in storage.read(key, 0, size)])


def test_parts_in_any_order_are_ranges_and_make_the_file(services: Services) -> None:
    payload = bytes(range(30))

    async def scenario() -> None:
        session = await create(services, "a.bin", len(payload))
        for number in (3, 1, 0, 2):
            piece = payload[number * PART : (number + 1) * PART]
            await put(services, session.id, number, piece, sha1(piece))
        held = await services.uploads.get(TENANT, session.id)
        assert [(r.start, r.size) for r in held.ranges] == [(0, 8), (8, 8), (16, 8), (24, 6)]
        entry = await services.uploads.finish(TENANT, session.id, sha1(payload))
        assert entry.size == 30 and entry.sha1 == hashlib.sha1(payload).hexdigest()
        assert await read(services, entry.storage_key or "", 30) == payload
        again = await services.uploads.finish(TENANT, session.id, None)
        assert again.id == entry.id

    go(scenario())


def test_a_direct_body_is_read_into_buffers(services: Services) -> None:
    async def scenario() -> None:
        session = await create(services, "d.bin", 8)
        rule = PartRule(0, services.uploads.policy)
        body = MemoryBody(b"12345678")
        await services.uploads.write_range(TENANT, session.id, rule, body, 8, None)
        entry = await services.uploads.finish(TENANT, session.id, None)
        assert await read(services, entry.storage_key or "", 8) == b"12345678"

    go(scenario())


def test_a_part_sent_again_replaces_the_first(services: Services) -> None:
    async def scenario() -> None:
        session = await create(services, "r.bin", 10)
        await put(services, session.id, 0, b"AAAAAAAA")
        await put(services, session.id, 0, b"BBBBBBBB", sha1(b"BBBBBBBB"))
        await put(services, session.id, 1, b"cc")
        held = await services.uploads.get(TENANT, session.id)
        assert held.ranges[0].sha1 == hashlib.sha1(b"BBBBBBBB").hexdigest()
        assert len(held.ranges) == 2
        entry = await services.uploads.finish(TENANT, session.id, None)
        assert await read(services, entry.storage_key or "", 10) == b"BBBBBBBBcc"

    go(scenario())


def test_part_sizes_numbers_and_digests_are_checked(services: Services) -> None:
    async def scenario() -> None:
        session = await create(services, "s.bin", 10)
        with pytest.raises(WrongPartSize):
            await put(services, session.id, 0, b"short")
        with pytest.raises(InvalidState, match="out of range"):
            await put(services, session.id, 2, b"x")
        with pytest.raises(DigestMismatch):
            await put(services, session.id, 1, b"cc", sha1(b"dd"))
        with pytest.raises(PayloadTooLarge):
            big = fake_services(Clock(), max_part_size=4, default_part_size=4)
            other = await create(big, "big.bin", None)
            await put(big, other.id, 0, b"12345")
        assert (await services.uploads.get(TENANT, session.id)).ranges == ()

    go(scenario())


def test_a_wrong_whole_file_digest_keeps_every_range(services: Services) -> None:
    async def scenario() -> None:
        session = await create(services, "w.bin", 10)
        await put(services, session.id, 0, b"01234567")
        await put(services, session.id, 1, b"89")
        with pytest.raises(DigestMismatch):
            await services.uploads.finish(TENANT, session.id, sha1(b"other"))
        still = await services.uploads.get(TENANT, session.id)
        assert still.state is SessionState.OPEN and len(still.ranges) == 2
        await put(services, session.id, 1, b"XY")
        entry = await services.uploads.finish(TENANT, session.id, sha1(b"01234567XY"))
        assert await read(services, entry.storage_key or "", 10) == b"01234567XY"

    go(scenario())


def test_missing_parts_are_named_and_abort_frees_the_name(services: Services) -> None:
    async def scenario() -> None:
        session = await create(services, "m.bin", 20)
        await put(services, session.id, 1, b"12345678")
        with pytest.raises(InvalidState) as refused:
            await services.uploads.finish(TENANT, session.id, None)
        assert refused.value.detail == {"missing_parts": [0, 2], "missing_count": 2}
        with pytest.raises(NameTaken):
            await create(services, "m.bin", 1)
        await services.uploads.abort(TENANT, session.id)
        with pytest.raises(NotFound):
            await services.uploads.get(TENANT, session.id)
        assert (await create(services, "m.bin", 1)).name == "m.bin"

    go(scenario())


def test_unknown_size_only_the_last_part_may_be_short(services: Services) -> None:
    async def scenario() -> None:
        session = await create(services, "u.bin", None)
        await put(services, session.id, 0, b"12345678")
        await put(services, session.id, 2, b"tail")
        with pytest.raises(WrongPartSize, match="only the last part"):
            await put(services, session.id, 1, b"short")
        with pytest.raises(InvalidState, match="cannot follow"):
            await put(services, session.id, 3, b"x")
        await put(services, session.id, 1, b"abcdefgh")
        entry = await services.uploads.finish(TENANT, session.id, None)
        assert entry.size == 20
        assert await read(services, entry.storage_key or "", 20) == b"12345678abcdefghtail"

    go(scenario())


def test_admission_counts_quota_and_open_sessions(clock: Clock) -> None:
    services = fake_services(
        clock, default_part_size=PART, default_quota_bytes=20, max_open_sessions=2
    )

    async def scenario() -> None:
        first = await create(services, "q1.bin", 12)
        with pytest.raises(QuotaExceeded):
            await create(services, "q2.bin", 9)
        open_ended = await create(services, "q3.bin", None)
        with pytest.raises(TooManySessions):
            await create(services, "q4.bin", 1)
        await put(services, open_ended.id, 0, b"12345678")
        with pytest.raises(QuotaExceeded, match="part 1 needs"):
            await put(services, open_ended.id, 1, b"1")
        await services.uploads.abort(TENANT, first.id)
        await put(services, open_ended.id, 1, b"1")

    go(scenario())


def test_an_idempotent_create_returns_the_first_session(services: Services) -> None:
    async def scenario() -> None:
        req = NewSession("i.bin", "root", 3)
        uploads = services.uploads
        a = await uploads.create(TENANT, SERVICE, req, idempotency_key="k")
        b = await uploads.create(TENANT, SERVICE, req, idempotency_key="k")
        assert a.id == b.id
        with pytest.raises(InvalidInput, match="Idempotency-Key"):
            await uploads.create(TENANT, SERVICE, NewSession("j", "root", 3), idempotency_key="k")

    go(scenario())


def test_expiry_and_the_reaper(services: Services, clock: Clock) -> None:
    async def scenario() -> None:
        old = await create(services, "old.bin", 8)
        await put(services, old.id, 0, b"12345678")
        clock.now += timedelta(minutes=61)
        with pytest.raises(NotFound, match="expired"):
            await services.uploads.get(TENANT, old.id)
        report = await services.reaper.run_once()
        assert (report.expired, report.bytes_freed) == (1, 8)
        assert (await create(services, "old.bin", 8)).name == "old.bin"

    go(scenario())


def test_a_finished_or_aborted_session_takes_no_more_ranges(services: Services) -> None:
    async def scenario() -> None:
        session = await create(services, "f.bin", 2)
        await put(services, session.id, 0, b"ok")
        await services.uploads.finish(TENANT, session.id, None)
        with pytest.raises(InvalidState, match="finished"):
            await put(services, session.id, 0, b"ok")
        with pytest.raises(InvalidState, match="delete the file"):
            await services.uploads.abort(TENANT, session.id)

    go(scenario())


def test_the_small_upload_is_one_range_finished_at_once(services: Services) -> None:
    async def scenario() -> None:
        req = NewSession("small.txt", "root", None)
        entry = await services.files.upload_small(TENANT, SERVICE, req, chunks(b"hello"), 5, None)
        assert entry.size == 5
        assert await read(services, entry.storage_key or "", 5) == b"hello"

    go(scenario())


def test_two_writers_of_one_range_are_serialized(services: Services) -> None:
    async def slow(data: bytes) -> AsyncIterator[bytes]:
        for byte in data:
            await asyncio.sleep(0)
            yield bytes([byte])

    async def scenario() -> None:
        session = await create(services, "race.bin", 9)
        rule = PartRule(0, services.uploads.policy)
        writes = [
            services.uploads.write_range(TENANT, session.id, rule, slow(d), 8, sha1(d))
            for d in (b"AAAAAAAA", b"BBBBBBBB")
        ]
        await asyncio.gather(*writes)
        await put(services, session.id, 1, b"!")
        held = (await services.uploads.get(TENANT, session.id)).ranges[0]
        entry = await services.uploads.finish(TENANT, session.id, None)
        stored = await read(services, entry.storage_key or "", 9)
        assert held.sha1 == hashlib.sha1(stored[:8]).hexdigest()

    go(scenario())


def test_admission_checks_sizes_and_sets_quotas(clock: Clock) -> None:
    services = fake_services(clock, max_file_size=10, max_small_upload=4)
    admission = services.admission

    async def scenario() -> None:
        with pytest.raises(InvalidInput, match="maximum file size"):
            await create(services, "big.bin", 11)
        with pytest.raises(InvalidInput, match="negative"):
            await create(services, "neg.bin", -1)
        req = NewSession("s.txt", "root", None)
        with pytest.raises(PayloadTooLarge):
            await services.files.upload_small(TENANT, SERVICE, req, chunks(b"12345"), 5, None)
        await create(services, "ok.bin", 10)
        await admission.set_quota(TENANT, 15)
        assert await admission.standing(TENANT) == (15, 10)
        with pytest.raises(QuotaExceeded, match="10 of 15"):
            await create(services, "more.bin", 6)
        with pytest.raises(InvalidInput):
            await admission.set_quota(TENANT, -1)
        await admission.set_quota(TENANT, None)
        assert await admission.standing(TENANT) == (None, 10)

    go(scenario())


def test_each_part_reads_its_session_once(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A part's plan before its locks needs only what never changes in a session of known size
    (its part size, size and store): kept from the session's first part, so each part reads the
    session once, under its locks (the read that decides). Twice cost a PostgreSQL round trip
    a part."""
    reads: list[str] = []
    real = services.repo.get_session

    async def counted(tenant: Tenant, session_id: str, *args: Any, **kwargs: Any) -> Any:
        reads.append(session_id)
        return await real(tenant, session_id, *args, **kwargs)

    monkeypatch.setattr(services.repo, "get_session", counted)
    payload = bytes(range(40))

    async def scenario() -> None:
        session = await create(services, "once.bin", len(payload))
        reads.clear()
        for number in range(5):
            await put(services, session.id, number, payload[number * PART : (number + 1) * PART])
        assert len(reads) == 5 + 1  # the first part reads it before its locks too
        # Finished, its parts are refused all the same, by the read under the locks.
        await services.uploads.finish(TENANT, session.id, None)
        with pytest.raises(InvalidState):
            await put(services, session.id, 0, payload[:PART])
        # Another tenant learns nothing of it.
        other = Tenant("app", "someone-else")
        rule = PartRule(1, services.uploads.policy)
        with pytest.raises(NotFound):
            await services.uploads.write_range(other, session.id, rule, chunks(b"x" * 8), 8, None)

    go(scenario())
