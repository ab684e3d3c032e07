"""The DirectRanges contract on every store that has it (S3 on Ceph RGW or moto, Azure on
Azurite): a client PUTs ranges straight into the store over the signed URLs, partway never sees
the bytes, and the store's own account of them is what finish checks."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from partway.domain.direct import (
    BadRanges,
    DirectRanges,
    PartClaim,
    etag_md5,
    range_problems,
    verified_ranges,
)
from partway.domain.models import ByteRange
from partway.domain.ports import Storage
from partway.storage import direct_ranges
from partway.storage.local import LocalStorage
from partway.storage.memory import MemoryStorage
from partway.storage.s3_direct import S3DirectRanges

from .test_storage import begin, read, run

TTL = timedelta(minutes=5)


def capability(storage: Storage) -> DirectRanges:
    found = direct_ranges(storage)
    assert found is not None
    return found


async def client_put(url: str, headers: dict[str, str], data: bytes) -> httpx.Response:
    """What a browser or `partway upload` does with a ticket: one plain PUT."""
    async with httpx.AsyncClient(timeout=60) as http:
        return await http.put(url, content=data, headers=headers)


def test_ranges_put_by_the_client_are_listed_checked_and_completed(
    direct_storage: Storage,
) -> None:
    direct = capability(direct_storage)

    async def scenario() -> None:
        at = await begin(direct_storage)
        payload = os.urandom(2 * at.grid + 777)
        expected = [ByteRange(s, min(at.grid, len(payload) - s)) for s in (0, at.grid, 2 * at.grid)]
        for want in reversed(expected):  # any order
            ticket = await direct.range_ticket(at, want.start, want.size, TTL)
            assert (ticket.start, ticket.size) == (want.start, want.size)
            res = await client_put(ticket.url, ticket.headers, payload[want.start : want.end])
            assert res.is_success, res.text
        stored = await direct.stored_ranges(at)
        ranges = verified_ranges(expected, stored)
        assert [r.size for r in ranges] == [r.size for r in expected]
        await direct_storage.complete(at, ranges, len(payload))
        assert await read(direct_storage, at.key, 0, len(payload)) == payload

    run(direct_storage, scenario())


def test_a_wrong_size_a_missing_range_and_a_stray_one_are_all_reported(
    direct_storage: Storage,
) -> None:
    direct = capability(direct_storage)

    async def scenario() -> None:
        at = await begin(direct_storage)
        expected = [ByteRange(0, at.grid), ByteRange(at.grid, at.grid), ByteRange(2 * at.grid, 9)]
        whole = await direct.range_ticket(at, 0, at.grid, TTL)
        cut = await client_put(whole.url, whole.headers, b"x" * (at.grid - 1))
        # S3's URL is signed for the part's size (a SAS signs no length; moto checks no
        # signature).
        if isinstance(direct, S3DirectRanges) and os.environ.get("PARTWAY_TEST_S3_KIND") != "moto":
            assert cut.status_code == 403
        short = await direct.range_ticket(at, 0, at.grid - 1, TTL)  # as a foreign writer would
        assert (await client_put(short.url, short.headers, b"x" * (at.grid - 1))).is_success
        stray = await direct.range_ticket(at, 3 * at.grid, 5, TTL)
        assert (await client_put(stray.url, stray.headers, b"12345")).is_success
        last = await direct.range_ticket(at, 2 * at.grid, 9, TTL)
        assert (await client_put(last.url, last.headers, b"123456789")).is_success
        stored = await direct.stored_ranges(at)
        problems = range_problems(expected, stored)
        assert problems == [
            f"range at 0: {at.grid - 1} bytes stored, {at.grid} expected",
            f"range at {at.grid}: missing",
            f"range at {3 * at.grid}: not part of the upload",
        ]
        with pytest.raises(BadRanges) as refused:
            verified_ranges(expected, stored)
        assert refused.value.problems == problems
        # A part's claimed MD5 is compared with the store's account where it shows one (an S3
        # ETag); Azure's block list shows none, so there only the store's own check on
        # arrival (test below) stands.
        last_only = [ByteRange(2 * at.grid, 9)]
        stored_last = [r for r in stored if r.start == 2 * at.grid]
        claims = {2 * at.grid: PartClaim(2 * at.grid, md5=hashlib.md5(b"other").hexdigest())}
        found = range_problems(last_only, stored_last, claims)
        if isinstance(direct, S3DirectRanges):
            md5 = hashlib.md5(b"123456789").hexdigest()
            assert found == [
                f"range at {2 * at.grid}: stored MD5 {md5} is not the "
                f"{claims[2 * at.grid].md5} claimed"
            ]
        else:
            assert found == [] and etag_md5(stored_last[0].tag) is None
        await direct_storage.discard(at.key, at.handle)

    run(direct_storage, scenario())


def test_a_claimed_md5_makes_the_store_refuse_other_bytes(direct_storage: Storage) -> None:
    direct = capability(direct_storage)

    async def scenario() -> None:
        at = await begin(direct_storage)
        claim = PartClaim(0, md5=hashlib.md5(b"abcd").hexdigest())
        ticket = await direct.range_ticket(at, 0, 4, TTL, claim)
        assert ticket.headers == {
            "content-md5": base64.b64encode(hashlib.md5(b"abcd").digest()).decode()
        }
        refused = await client_put(ticket.url, ticket.headers, b"abce")
        assert refused.status_code == 400, refused.text
        assert (await client_put(ticket.url, ticket.headers, b"abcd")).is_success
        (stored,) = await direct.stored_ranges(at)
        assert range_problems([ByteRange(0, 4)], [stored], {0: claim}) == []
        await direct_storage.discard(at.key, at.handle)

    run(direct_storage, scenario())


def test_a_ticket_expires(direct_storage: Storage) -> None:
    direct = capability(direct_storage)
    if isinstance(direct, S3DirectRanges) and os.environ.get("PARTWAY_TEST_S3_KIND") == "moto":
        # Found here: moto's server takes a PUT on an expired presigned URL; RGW answers 403.
        pytest.skip("moto does not check presigned URLs' expiry")

    async def scenario() -> None:
        at = await begin(direct_storage)
        ticket = await direct.range_ticket(at, 0, 3, timedelta(seconds=1))
        await asyncio.sleep(2.5)
        res = await client_put(ticket.url, ticket.headers, b"abc")
        assert res.status_code == 403, res.text
        assert await direct.stored_ranges(at) == []
        await direct_storage.discard(at.key, at.handle)

    run(direct_storage, scenario())


def test_a_late_put_after_discard_leaves_nothing_the_sweep_misses(
    direct_storage: Storage,
) -> None:
    """S3 refuses a part of an aborted upload; Azure stages the block on a blob nobody commits,
    which the inventory (the reaper's orphan sweep) lists and delete removes."""
    direct = capability(direct_storage)

    async def scenario() -> None:
        at = await begin(direct_storage)
        ticket = await direct.range_ticket(at, 0, 4, TTL)
        await direct_storage.discard(at.key, at.handle)
        res = await client_put(ticket.url, ticket.headers, b"late")
        if res.is_success:
            assert at.key in {o.key for o in await direct_storage.inventory()}
            await direct_storage.delete(at.key)
        assert at.key not in {o.key for o in await direct_storage.inventory()}

    run(direct_storage, scenario())


def test_stores_without_the_capability_say_so(tmp_path: Path) -> None:
    assert direct_ranges(MemoryStorage()) is None
    assert direct_ranges(LocalStorage(tmp_path, fsync=False)) is None
