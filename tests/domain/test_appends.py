"""AppendRule (tus / IETF draft appends) on the in-memory fakes: a range starts where the
contiguous bytes end, unaligned appends make a whole file, a deferred length is checked."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from partway.domain.appends import (
    AppendRule,
    LengthMismatch,
    OffsetMismatch,
    contiguous_end,
    declare_length,
)
from partway.domain.errors import OperationUnsupported, PayloadTooLarge, QuotaExceeded
from partway.domain.models import ByteRange, NewSession, Tenant
from partway.domain.policy import StorageCapabilities
from partway.services import Services

from ..fakes import SERVICE, fake_services

TENANT = Tenant("app", "consumer")


def services_on(in_place: bool) -> Services:
    caps = StorageCapabilities(1, 1 << 30, 100_000, in_place)
    return fake_services(lambda: datetime(2026, 1, 1, tzinfo=UTC), caps, default_part_size=8)


async def append(services: Services, session_id: str, rule: AppendRule, data: bytes) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield data

    await services.uploads.write_range(TENANT, session_id, rule, body(), len(data), None)


def test_contiguous_end_stops_at_the_first_gap() -> None:
    assert contiguous_end([]) == 0
    assert contiguous_end([ByteRange(0, 5), ByteRange(5, 3), ByteRange(10, 2)]) == 8
    assert contiguous_end([ByteRange(3, 5)]) == 0


def test_unaligned_appends_make_the_file() -> None:
    services = services_on(True)
    payload = bytes(range(23))

    async def scenario() -> None:
        uploads = services.uploads
        session = await uploads.create(TENANT, SERVICE, NewSession("a.bin", "root", 23))
        for start, end in ((0, 3), (3, 13), (13, 23)):  # across the 8-byte grid
            await append(services, session.id, AppendRule(start, 100), payload[start:end])
        with pytest.raises(OffsetMismatch) as refused:
            await append(services, session.id, AppendRule(3, 100), b"x")
        assert (refused.value.expected, refused.value.provided) == (23, 3)
        entry = await uploads.finish(TENANT, session.id, None)
        storage = uploads.storage(SERVICE)
        assert b"".join([b async for b in storage.read(entry.storage_key or "", 0, 23)]) == payload

    asyncio.run(scenario())


def test_limits_and_deferred_length() -> None:
    services = services_on(True)

    async def scenario() -> None:
        uploads = services.uploads
        sized = await uploads.create(TENANT, SERVICE, NewSession("s.bin", "root", 4))
        with pytest.raises(PayloadTooLarge):
            await append(services, sized.id, AppendRule(0, 100), b"12345")
        with pytest.raises(LengthMismatch):
            await append(services, sized.id, AppendRule(0, 100, declared_end=5), b"1")
        open_ended = await uploads.create(TENANT, SERVICE, NewSession("d.bin", "root", None))
        with pytest.raises(PayloadTooLarge):
            await append(services, open_ended.id, AppendRule(0, 2), b"123")
        await append(services, open_ended.id, AppendRule(0, 2), b"12")
        await append(services, open_ended.id, AppendRule(2, 2, declared_end=3), b"3")
        entry = await uploads.finish(TENANT, open_ended.id, None)
        assert entry.size == 3

    asyncio.run(scenario())


def test_a_grid_only_store_refuses_appends() -> None:
    services = services_on(False)

    async def scenario() -> None:
        session = await services.uploads.create(TENANT, SERVICE, NewSession("g.bin", "root", 4))
        with pytest.raises(OperationUnsupported):
            await append(services, session.id, AppendRule(0, 100), b"1234")

    asyncio.run(scenario())


def test_a_stated_length_is_kept_once() -> None:
    services = services_on(True)

    async def scenario() -> None:
        uploads = services.uploads
        session = await uploads.create(TENANT, SERVICE, NewSession("d.bin", "root", None))
        await append(services, session.id, AppendRule(0, 100), b"12345")
        with pytest.raises(LengthMismatch):  # fewer than the bytes already in
            await declare_length(uploads, TENANT, session.id, 4)
        assert (await declare_length(uploads, TENANT, session.id, 9)).size == 9
        assert (await declare_length(uploads, TENANT, session.id, 9)).size == 9  # again: fine
        with pytest.raises(LengthMismatch):
            await declare_length(uploads, TENANT, session.id, 10)
        # Later appends need not state it: the kept length bounds them and ends the upload.
        with pytest.raises(PayloadTooLarge):
            await append(services, session.id, AppendRule(5, 100), b"67890")
        await append(services, session.id, AppendRule(5, 100), b"6789")
        entry = await uploads.finish(TENANT, session.id, None)
        assert entry.size == 9

    asyncio.run(scenario())


def test_a_stated_length_counts_against_the_quota() -> None:
    services = fake_services(lambda: datetime(2026, 1, 1, tzinfo=UTC), default_quota_bytes=100)

    async def scenario() -> None:
        uploads = services.uploads
        session = await uploads.create(TENANT, SERVICE, NewSession("q.bin", "root", None))
        await append(services, session.id, AppendRule(0, 100), b"x" * 10)
        with pytest.raises(QuotaExceeded):
            await declare_length(uploads, TENANT, session.id, 101)
        assert (await uploads.get(TENANT, session.id)).size is None
        await declare_length(uploads, TENANT, session.id, 100)
        assert await uploads.admission.standing(TENANT) == (100, 100)

    asyncio.run(scenario())
