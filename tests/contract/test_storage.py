"""The Storage contract, run on every backend (memory, local disk, S3 on Ceph RGW or moto).

Ranges sit on a grid of the backend's smallest part (S3: 5 MiB, so every range but the last is
a valid multipart part); CAPABILITY_TESTS names the test exercising each declared capability,
and a test checks that list covers every field of StorageCapabilities.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import os
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import pytest

from partway.domain.errors import (
    DigestMismatch,
    InvalidInput,
    NotFound,
    StorageUnavailable,
    WrongPartSize,
)
from partway.domain.models import ByteRange, Placement, new_id
from partway.domain.policy import PartPolicy, StorageCapabilities, part_size_for
from partway.domain.ports import Storage

from ..bodies import MemoryBody

# Which test exercises each capability a backend declares.
CAPABILITY_TESTS = {
    "min_part_size": "test_ranges_on_the_grid_in_any_order_make_the_object",
    "max_part_size": "test_the_part_policy_stays_within_the_declared_limits",
    "max_parts": "test_the_part_policy_stays_within_the_declared_limits",
    "writes_in_place": "test_an_off_grid_start_is_written_in_place_or_refused",
}


def run(storage: Storage, scenario: Coroutine[Any, Any, None]) -> None:
    async def whole() -> None:
        try:
            await scenario
        finally:
            await storage.close()

    asyncio.run(whole())


async def chunks(data: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(data), 256 * 1024):
        yield data[i : i + 256 * 1024]


async def begin(storage: Storage) -> Placement:
    key = new_id("obj")
    return Placement(key, await storage.begin(key), storage.capabilities.min_part_size)


async def write(storage: Storage, at: Placement, start: int, data: bytes) -> ByteRange:
    written = await storage.write_range(at, start, chunks(data), len(data), len(data))
    assert written.size == len(data)
    return ByteRange(start, written.size, tag=written.tag)


async def read(storage: Storage, key: str, start: int, end: int) -> bytes:
    return b"".join([b async for b in storage.read(key, start, end)])


def test_every_capability_is_exercised() -> None:
    declared = {f.name for f in dataclasses.fields(StorageCapabilities)}
    assert set(CAPABILITY_TESTS) == declared
    assert all(name in globals() for name in CAPABILITY_TESTS.values())


def test_ranges_on_the_grid_in_any_order_make_the_object(storage: Storage) -> None:
    async def scenario() -> None:
        at = await begin(storage)
        grid = at.grid
        payload = os.urandom(2 * grid + 1000)
        held = [
            await write(storage, at, 2 * grid, payload[2 * grid :]),
            await write(storage, at, 0, payload[:grid]),
            await write(storage, at, grid, payload[grid : 2 * grid]),
        ]
        await storage.complete(at, sorted(held, key=lambda r: r.start), len(payload))
        assert await read(storage, at.key, 0, len(payload)) == payload
        low = max(0, grid - 3)
        assert await read(storage, at.key, low, grid + 3) == payload[low : grid + 3]
        # A finish that crashed after completing is retried: completing again is no error.
        await storage.complete(at, held, len(payload))

    run(storage, scenario())


def test_a_direct_body_is_stored_and_inspected(storage: Storage) -> None:
    """A body read straight from the connection: spliced on local disk, read into buffers on
    the others; either way the inspector sees exactly the stored bytes."""

    async def scenario() -> None:
        at = await begin(storage)
        data = os.urandom(max(at.grid, 300_000))
        seen = hashlib.sha256()
        body = MemoryBody(data)
        written = await storage.write_range(at, 0, body, len(data), len(data), seen.update)
        assert written.size == len(data) and seen.digest() == hashlib.sha256(data).digest()
        await storage.complete(at, [ByteRange(0, len(data), tag=written.tag)], len(data))
        assert await read(storage, at.key, 0, len(data)) == data

    run(storage, scenario())


def test_a_direct_body_with_nothing_to_inspect_is_stored(storage: Storage) -> None:
    """With no inspector a body read from the connection may bypass Python (spliced into the
    file, or on S3 into the UploadPart request); its bytes arrive all the same."""

    async def scenario() -> None:
        at = await begin(storage)
        data = os.urandom(max(at.grid, 300_000) + 12_345)
        body = MemoryBody(data)
        written = await storage.write_range(at, 0, body, len(data), len(data))
        assert written.size == len(data) and body.closed
        await storage.complete(at, [ByteRange(0, len(data), tag=written.tag)], len(data))
        assert await read(storage, at.key, 0, len(data)) == data

    run(storage, scenario())


def test_a_direct_body_into_a_discarded_upload_is_refused(storage: Storage) -> None:
    """The store may refuse before it reads the body (RGW answers NoSuchUpload and closes):
    the refusal is what comes out, not a broken pipe."""

    async def scenario() -> None:
        at = await begin(storage)
        await storage.discard(at.key, at.handle)
        data = os.urandom(max(at.grid, 4 * 1024 * 1024))
        with pytest.raises((NotFound, StorageUnavailable)):
            await storage.write_range(at, 0, MemoryBody(data), len(data), len(data))
        await storage.ready()

    run(storage, scenario())


def test_a_range_replaced_or_refused_leaves_the_last_accepted_bytes(storage: Storage) -> None:
    async def scenario() -> None:
        at = await begin(storage)
        first, second = os.urandom(at.grid), os.urandom(at.grid)
        await write(storage, at, 0, first)

        def refuse(received: int) -> None:
            raise DigestMismatch(f"refused after {received} bytes")

        with pytest.raises(DigestMismatch):
            await storage.write_range(at, 0, chunks(second), at.grid, at.grid, None, refuse)
        with pytest.raises(WrongPartSize):
            await storage.write_range(at, 0, chunks(second), None, at.grid - 1)
        kept = await write(storage, at, 0, second)
        await storage.complete(at, [kept], at.grid)
        assert await read(storage, at.key, 0, at.grid) == second

    run(storage, scenario())


def test_an_off_grid_start_is_written_in_place_or_refused(storage: Storage) -> None:
    async def scenario() -> None:
        at = Placement(new_id("obj"), "", 4)
        at = dataclasses.replace(at, handle=await storage.begin(at.key))
        if not storage.capabilities.writes_in_place:
            with pytest.raises(InvalidInput, match="multiples"):
                await write(storage, at, 3, b"abc")
            return
        at = dataclasses.replace(at, grid=1)
        held = [await write(storage, at, 3, b"def"), await write(storage, at, 0, b"abc")]
        await storage.complete(at, sorted(held, key=lambda r: r.start), 6)
        assert await read(storage, at.key, 0, 6) == b"abcdef"

    run(storage, scenario())


def test_the_part_policy_stays_within_the_declared_limits(storage: Storage) -> None:
    """The policy reads the backend's limits; the backend takes a range at its last part."""
    caps = storage.capabilities
    policy = PartPolicy(default_part_size=1, max_part_size=caps.max_part_size)
    huge = caps.max_part_size * min(policy.max_parts, caps.max_parts)
    assert part_size_for(huge, policy, caps) <= caps.max_part_size
    with pytest.raises(InvalidInput):
        part_size_for(huge + 1, policy, caps)

    async def scenario() -> None:
        at = await begin(storage)
        last = (caps.max_parts - 1) * at.grid if not caps.writes_in_place else 4096
        held = await write(storage, at, last, b"tail")
        await storage.discard(at.key, at.handle)  # not completed: the gap before it is unwritten
        assert held.start == last

    run(storage, scenario())


def test_reopen_takes_ranges_again_after_a_failed_check(storage: Storage) -> None:
    async def scenario() -> None:
        at = await begin(storage)
        data = os.urandom(at.grid + 10)
        held = [
            await write(storage, at, 0, data[: at.grid]),
            await write(storage, at, at.grid, data[at.grid :]),
        ]
        await storage.complete(at, held, len(data))
        handle, restored = await storage.reopen(at, held)
        at = dataclasses.replace(at, handle=handle)
        fixed = await write(storage, at, at.grid, b"0123456789")
        await storage.complete(at, [restored[0], fixed], len(data))
        assert await read(storage, at.key, 0, len(data)) == data[: at.grid] + b"0123456789"

    run(storage, scenario())


def test_discard_delete_and_inventory(storage: Storage) -> None:
    async def scenario() -> None:
        unfinished = await begin(storage)
        done = await begin(storage)
        await storage.complete(done, [await write(storage, done, 0, b"x")], 1)
        listed = {o.key for o in await storage.inventory()}
        assert {unfinished.key, done.key} <= listed
        await storage.discard(unfinished.key, unfinished.handle)
        await storage.delete(done.key)
        await storage.discard(unfinished.key, unfinished.handle)  # gone already: no error
        await storage.delete(done.key)
        assert not {unfinished.key, done.key} & {o.key for o in await storage.inventory()}
        # Real S3 answers NoSuchUpload (NotFound); moto's server answers 500 (unavailable).
        with pytest.raises((NotFound, StorageUnavailable)):
            await write(storage, unfinished, 0, b"late")
        await storage.ready()

    run(storage, scenario())
