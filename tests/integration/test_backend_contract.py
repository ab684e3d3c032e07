"""The contract every metadata + storage combination keeps, run against each (local + SQLite,
S3 + PostgreSQL) over real connections. Part sizes respect S3's 5 MiB minimum on both."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
from collections.abc import AsyncIterator

import pytest

from partway.domain.digests import parse_digest
from partway.domain.errors import (
    DigestMismatch,
    InvalidState,
    NotFound,
    QuotaExceeded,
)
from partway.domain.models import NewSession, SessionState, UploadSession
from partway.services import Services

from ..backends import Backend
from ..e2e.helpers import sha1_header
from .helpers import TENANT, Clock, body, make_services, read_all, run, upload_part

MIB = 1024 * 1024
PART = 5 * MIB


def pieces(payload: bytes, part_size: int) -> list[bytes]:
    return [payload[i : i + part_size] for i in range(0, len(payload), part_size)] or [b""]


async def create(services: Services, name: str, size: int | None) -> UploadSession:
    service = services.settings.default_service
    return await services.uploads.create(TENANT, service, NewSession(name, "root", size))


async def put(services: Services, session: UploadSession, number: int, data: bytes) -> None:
    await upload_part(
        services.uploads,
        TENANT,
        session.id,
        number,
        body(data),
        len(data),
        parse_digest(sha1_header(data)),
    )


async def uploaded(services: Services, name: str, payload: bytes) -> UploadSession:
    """A session holding every part of `payload`, not finished yet."""
    session = await create(services, name, len(payload))
    for number, data in enumerate(pieces(payload, PART)):
        await put(services, session, number, data)
    return session


def contract_services(backend: Backend, clock: Clock, **overrides: object) -> Services:
    return make_services(backend, clock, default_part_size=PART, **overrides)


def test_parts_in_any_order_make_the_file(backend: Backend, clock: Clock) -> None:
    services = contract_services(backend, clock)
    payload = os.urandom(3 * PART + 12345)

    async def scenario() -> None:
        session = await create(services, "shuffled.bin", len(payload))
        assert session.part_size == PART
        numbered = list(enumerate(pieces(payload, PART)))
        random.Random(7).shuffle(numbered)
        for number, data in numbered:
            await put(services, session, number, data)
        entry = await services.uploads.finish(
            TENANT, session.id, parse_digest(sha1_header(payload))
        )
        assert entry.size == len(payload)
        assert await read_all(services, entry) == payload
        storage = services.uploads.storage(backend.service_id)
        middle = b"".join(
            [b async for b in storage.read(entry.storage_key or "", PART - 3, PART + 3)]
        )
        assert middle == payload[PART - 3 : PART + 3]
        # A second finish answers with the same file.
        again = await services.uploads.finish(TENANT, session.id, None)
        assert again.id == entry.id

    run(scenario(), services)


def test_a_replaced_part_wins_and_its_record_matches(backend: Backend, clock: Clock) -> None:
    services = contract_services(backend, clock)
    first, second, tail = os.urandom(PART), os.urandom(PART), b"tail"

    async def scenario() -> None:
        session = await create(services, "replaced.bin", 2 * PART + 4)
        await put(services, session, 0, first)
        await put(services, session, 0, second)
        await put(services, session, 1, first)
        await put(services, session, 2, tail)
        recorded = await services.uploads.get(TENANT, session.id)
        assert recorded.ranges[0].sha1 == hashlib.sha1(second).hexdigest()
        entry = await services.uploads.finish(TENANT, session.id, None)
        assert await read_all(services, entry) == second + first + tail

    run(scenario(), services)


def test_a_wrong_whole_file_digest_keeps_every_part(backend: Backend, clock: Clock) -> None:
    services = contract_services(backend, clock)
    payload = os.urandom(PART + 100)

    async def scenario() -> None:
        session = await uploaded(services, "check.bin", payload)
        with pytest.raises(DigestMismatch):
            await services.uploads.finish(TENANT, session.id, parse_digest(sha1_header(b"x")))
        still = await services.uploads.get(TENANT, session.id)
        assert still.state is SessionState.OPEN and len(still.ranges) == 2
        # The parts are still there: replace one, and finish with the right digest.
        fixed = payload[:PART] + os.urandom(100)
        await put(services, session, 1, fixed[PART:])
        entry = await services.uploads.finish(TENANT, session.id, parse_digest(sha1_header(fixed)))
        assert await read_all(services, entry) == fixed

    run(scenario(), services)


def test_finish_with_parts_missing_is_refused(backend: Backend, clock: Clock) -> None:
    services = contract_services(backend, clock)

    async def scenario() -> None:
        session = await create(services, "gap.bin", 2 * PART + 1)
        await put(services, session, 0, os.urandom(PART))
        await put(services, session, 2, b"z")
        with pytest.raises(InvalidState, match="missing: 1"):
            await services.uploads.finish(TENANT, session.id, None)

    run(scenario(), services)


def test_abort_removes_the_bytes_and_the_session(backend: Backend, clock: Clock) -> None:
    services = contract_services(backend, clock)

    async def scenario() -> None:
        session = await create(services, "gone.bin", PART + 1)
        await put(services, session, 0, os.urandom(PART))
        assert session.storage_key in backend.stored_keys()
        await services.uploads.abort(TENANT, session.id)
        assert backend.stored_keys() == set()
        with pytest.raises(NotFound):
            await put(services, session, 1, b"x")

    run(scenario(), services)


def test_empty_and_unknown_size_files(backend: Backend, clock: Clock) -> None:
    services = contract_services(backend, clock)
    tail = os.urandom(1000)
    head = os.urandom(PART)

    async def scenario() -> None:
        empty = await create(services, "empty.bin", 0)
        await put(services, empty, 0, b"")
        entry = await services.uploads.finish(TENANT, empty.id, None)
        assert entry.size == 0 and await read_all(services, entry) == b""

        # Size unknown until finish; the last part arrives without a length (chunked).
        open_ended = await create(services, "stream.bin", None)
        await put(services, open_ended, 0, head)
        await upload_part(services.uploads, TENANT, open_ended.id, 1, body(tail), None, None)
        entry = await services.uploads.finish(TENANT, open_ended.id, None)
        assert entry.size == PART + 1000
        assert await read_all(services, entry) == head + tail

    run(scenario(), services)


def test_finish_that_crashed_after_completing_storage_is_retried(
    backend: Backend, clock: Clock
) -> None:
    services = contract_services(backend, clock)
    payload = os.urandom(PART + 7)

    async def scenario() -> None:
        session = await uploaded(services, "crash.bin", payload)
        # The storage finished, then the process died before the metadata said so.
        full = await services.uploads.get(TENANT, session.id)
        storage = services.uploads.storage(backend.service_id)
        held = sorted(full.ranges, key=lambda r: r.start)
        await storage.complete(session.placement, held, len(payload))
        entry = await services.uploads.finish(TENANT, session.id, None)
        assert await read_all(services, entry) == payload

    run(scenario(), services)


def test_same_part_through_two_instances_leaves_a_true_record(
    backend: Backend, clock: Clock
) -> None:
    """Two service instances (two connection pools, two lock clients) on one store."""
    a, b = contract_services(backend, clock), contract_services(backend, clock)
    bodies = [os.urandom(PART), os.urandom(PART)]

    async def slow(data: bytes) -> AsyncIterator[bytes]:
        for i in range(0, len(data), MIB):
            yield data[i : i + MIB]
            await asyncio.sleep(0.01)

    async def scenario() -> None:
        session = await create(a, "race.bin", PART + 1)
        for _ in range(3):
            await asyncio.gather(
                *(
                    upload_part(svc.uploads, TENANT, session.id, 0, slow(data), PART, None)
                    for svc, data in zip((a, b), bodies, strict=True)
                )
            )
            await put(b, session, 1, b"!")
            recorded = await a.uploads.get(TENANT, session.id)
            part = next(r for r in recorded.ranges if r.start == 0)
            assert part.size == PART
        entry, twin = await asyncio.gather(
            a.uploads.finish(TENANT, session.id, None), b.uploads.finish(TENANT, session.id, None)
        )
        assert entry.id == twin.id
        got = await read_all(a, entry)
        assert got[:PART] in bodies and got[PART:] == b"!"

    run(scenario(), a, b)


def test_quota_holds_under_concurrent_creates(backend: Backend, clock: Clock) -> None:
    services = contract_services(backend, clock, default_quota_bytes=5 * PART)

    async def scenario() -> None:
        results = await asyncio.gather(
            *(create(services, f"q{n}.bin", PART) for n in range(12)), return_exceptions=True
        )
        made = [r for r in results if isinstance(r, UploadSession)]
        refused = [r for r in results if isinstance(r, QuotaExceeded)]
        assert (len(made), len(refused)) == (5, 7), results

    run(scenario(), services)
