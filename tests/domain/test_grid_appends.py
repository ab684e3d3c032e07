"""Appends on a store of whole parts (domain/grid_appends.py) over the in-memory fakes: bytes are
cut on the grid into parts, a short trailing piece is a tail that the next append puts before
its own bytes, the offset counts only recorded bytes, and a checksum that fails keeps the tail
the metadata records."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from partway.config import Settings
from partway.domain.appends import AppendRule, contiguous_end
from partway.domain.digests import Digest
from partway.domain.errors import DigestMismatch, InvalidState
from partway.domain.models import ByteRange, NewSession, Placement, Tenant
from partway.domain.policy import StorageCapabilities
from partway.domain.ports import Inspect, Source, Written
from partway.locks.memory import MemoryLocks
from partway.metadata.memory import MemoryRepository
from partway.metrics import Metrics
from partway.services import Services, assemble
from partway.storage.memory import MemoryStorage

from ..fakes import SERVICE

TENANT = Tenant("app", "consumer")
GRID = 8
GRID_ONLY = StorageCapabilities(1, 1 << 30, 100_000, False)


class MemoryTails:
    """Tails in a dict, each also written at its start in the memory object: what S3's
    complete does by copying the recorded tail into the last part."""

    def __init__(self, storage: MemoryStorage) -> None:
        self.storage = storage
        self.held: dict[str, bytes] = {}
        self._names = itertools.count(1)

    def is_tail(self, held: ByteRange) -> bool:
        return (held.tag or "").startswith("tail-")

    async def write_tail(
        self, at: Placement, start: int, source: Source, length: int, inspect: Inspect | None
    ) -> Written:
        assert isinstance(source, AsyncIterator)
        data = b"".join([bytes(c) async for c in source])
        assert len(data) == length < at.grid and start % at.grid == 0
        tag = f"tail-{next(self._names)}"
        self.held[tag] = data
        await self.storage.write_range(at, start, once(data), length, length)
        return Written(length, tag)

    async def read_tail(self, at: Placement, held: ByteRange) -> AsyncIterator[bytes]:
        data = self.held[held.tag or ""]
        assert len(data) == held.size
        yield data[:1]  # in more than one block
        yield data[1:]

    async def drop_tail(self, at: Placement, held: ByteRange) -> None:
        self.held.pop(held.tag or "", None)


async def once(data: bytes) -> AsyncIterator[bytes]:
    yield data


def services() -> tuple[Services, MemoryTails]:
    def clock() -> datetime:
        return datetime(2026, 1, 1, tzinfo=UTC)

    settings = Settings(
        storage={SERVICE: "memory"}, default_service=SERVICE, default_part_size=GRID
    )
    storage = MemoryStorage(GRID_ONLY, clock)
    tails = MemoryTails(storage)
    built = assemble(
        settings,
        MemoryRepository(),
        {SERVICE: storage},
        MemoryLocks(timeout=5),
        clock,
        Metrics(),
        {SERVICE: tails},
    )
    return built, tails


async def append(
    built: Services, session_id: str, rule: AppendRule, data: bytes, *, sized: bool = True
) -> None:
    async def body() -> AsyncIterator[bytes]:
        for i in range(0, len(data), 3):  # chunks that straddle the grid
            yield data[i : i + 3]

    length = len(data) if sized else None
    await built.uploads.write_range(TENANT, session_id, rule, body(), length, None)


def shape(ranges: tuple[ByteRange, ...], tails: MemoryTails) -> list[tuple[int, int, bool]]:
    return [(r.start, r.size, tails.is_tail(r)) for r in sorted(ranges, key=lambda r: r.start)]


@pytest.mark.parametrize("sized", [True, False])
def test_unaligned_appends_make_parts_and_one_tail(sized: bool) -> None:
    built, tails = services()
    payload = bytes(range(30))

    async def scenario() -> None:
        uploads = built.uploads
        assert uploads.takes_appends(SERVICE)
        session = await uploads.create(TENANT, SERVICE, NewSession("a.bin", "root", 30))
        await append(built, session.id, AppendRule(0, 100), payload[:5], sized=sized)
        got = await uploads.get(TENANT, session.id)
        assert shape(got.ranges, tails) == [(0, 5, True)]
        await append(built, session.id, AppendRule(5, 100), payload[5:19], sized=sized)
        got = await uploads.get(TENANT, session.id)
        assert shape(got.ranges, tails) == [(0, 8, False), (8, 8, False), (16, 3, True)]
        assert contiguous_end(got.ranges) == 19
        assert len(tails.held) == 1  # the first tail was dropped once a part replaced it
        # The upload's last bytes: the short piece goes in as the final part, not a tail.
        await append(built, session.id, AppendRule(19, 100), payload[19:], sized=sized)
        got = await uploads.get(TENANT, session.id)
        assert shape(got.ranges, tails)[-1] == (24, 6, False)
        assert not tails.held
        entry = await uploads.finish(TENANT, session.id, None)
        storage = uploads.storage(SERVICE)
        assert b"".join([b async for b in storage.read(entry.storage_key or "", 0, 30)]) == payload

    asyncio.run(scenario())


def test_a_tail_recorded_at_finish_is_the_last_part() -> None:
    built, tails = services()

    async def scenario() -> None:
        uploads = built.uploads
        session = await uploads.create(TENANT, SERVICE, NewSession("d.bin", "root", None))
        await append(built, session.id, AppendRule(0, 100), b"0123456789")
        got = await uploads.get(TENANT, session.id)
        assert shape(got.ranges, tails) == [(0, 8, False), (8, 2, True)]
        entry = await uploads.finish(TENANT, session.id, None)
        assert entry.size == 10
        storage = uploads.storage(SERVICE)
        data = b"".join([b async for b in storage.read(entry.storage_key or "", 0, 10)])
        assert data == b"0123456789"

    asyncio.run(scenario())


def test_a_failed_checksum_keeps_the_recorded_tail() -> None:
    built, tails = services()

    async def scenario() -> None:
        uploads = built.uploads
        session = await uploads.create(TENANT, SERVICE, NewSession("c.bin", "root", 20))
        await append(built, session.id, AppendRule(0, 100), b"abc")
        wrong = Digest({"sha1": hashlib.sha1(b"not it").digest()})

        async def body() -> AsyncIterator[bytes]:
            yield b"defghijklmno"

        with pytest.raises(DigestMismatch):
            await uploads.write_range(TENANT, session.id, AppendRule(3, 100), body(), 12, wrong)
        got = await uploads.get(TENANT, session.id)
        assert shape(got.ranges, tails) == [(0, 3, True)]
        assert tails.held[got.ranges[0].tag or ""] == b"abc"
        right = Digest({"sha1": hashlib.sha1(b"defghijklmno").digest()})
        await uploads.write_range(TENANT, session.id, AppendRule(3, 100), body(), 12, right)
        got = await uploads.get(TENANT, session.id)
        assert shape(got.ranges, tails) == [(0, 8, False), (8, 7, True)]

    asyncio.run(scenario())


def test_a_short_part_not_a_tail_takes_no_more_bytes() -> None:
    built, _ = services()

    async def scenario() -> None:
        uploads = built.uploads
        session = await uploads.create(TENANT, SERVICE, NewSession("p.bin", "root", None))
        data = b"xyz"
        await uploads.write_range(TENANT, session.id, part_rule(built), once(data), len(data), None)
        with pytest.raises(InvalidState):
            await append(built, session.id, AppendRule(3, 100), b"more")

    asyncio.run(scenario())


def part_rule(built: Services):  # type: ignore[no-untyped-def]
    from partway.domain.rules import PartRule

    return PartRule(0, built.uploads.policy)


def test_concatenation_cells_copy_within_a_piece_and_stream_across() -> None:
    from partway.domain.concat import grid_cells

    assert grid_cells([3, 20, 0, 7], 8) == [
        (0, 8, [(0, 0, 3), (1, 0, 5)]),  # across pieces 0 and 1: streamed
        (8, 8, [(1, 5, 8)]),  # within piece 1: copied by the store
        (16, 8, [(1, 13, 7), (3, 0, 1)]),  # the empty piece 2 takes no span
        (24, 6, [(3, 1, 6)]),
    ]
    assert grid_cells([], 8) == [] and grid_cells([0], 8) == []
