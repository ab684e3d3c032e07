"""The store's own full-object CRC32C on S3 (storage/s3_checksums.py), on real S3 servers: the S3
of record (Ceph RGW 16.2, which keeps none: today's uploads, whatever partway's CRCs say) and a
moto server of the test run's own (moto 5.2.5 derives a FULL_OBJECT CRC32C from the whole object
and reports it to HeadObject): finish refuses an object whose CRC32C the store and partway
disagree on, and the upload can still be finished once the parts are right."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from partway.domain.crc import crc32c_of
from partway.domain.errors import StorageUnavailable, StoredChecksumMismatch
from partway.domain.models import ByteRange, Placement, new_id
from partway.storage.s3 import S3Location, S3Storage
from partway.storage.s3_checksums import PROBE_INFIX

from ..backends import BUCKET, external, moto_endpoint, new_moto_url, new_s3_url, s3_client
from .test_storage import read, write

MIB = 1024 * 1024


def run(scenario: Callable[[S3Storage], Coroutine[Any, Any, None]], url: str) -> S3Storage:
    storage = S3Storage(S3Location.parse(url))

    async def whole() -> None:
        try:
            await scenario(storage)
        finally:
            await storage.close()

    asyncio.run(whole())
    return storage


async def two_parts(storage: S3Storage) -> tuple[Placement, bytes, list[ByteRange]]:
    """An upload of a 5 MiB part and a short last one, each recorded with its CRC32C as partway
    records a part it verified."""
    key = new_id("obj")
    at = Placement(key, await storage.begin(key), storage.capabilities.min_part_size)
    data = os.urandom(at.grid + 1234)
    held = []
    for start in (0, at.grid):
        piece = data[start : start + at.grid]
        written = await write(storage, at, start, piece)
        held.append(dataclasses.replace(written, crc32c=f"{crc32c_of(piece):08x}"))
    return at, data, held


def wrong(held: ByteRange) -> ByteRange:
    """The range as a record that disagrees with the store about its bytes."""
    return dataclasses.replace(held, crc32c=f"{int(held.crc32c or '0', 16) ^ 1:08x}")


def keys_under(endpoint: str, url: str) -> set[str]:
    prefix = url.split("?", 1)[0].removeprefix(f"s3://{BUCKET}/") + "/"
    listed = s3_client(endpoint).list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return {o["Key"].removeprefix(prefix) for o in listed.get("Contents", [])}


def test_moto_keeps_full_object_crc32c_and_finish_compares_it() -> None:
    url = new_moto_url()

    async def scenario(storage: S3Storage) -> None:
        at, data, held = await two_parts(storage)
        assert await storage.complete(at, held, len(data)) == crc32c_of(data)  # the store's
        assert await read(storage, at.key, 0, len(data)) == data
        head = await (await storage._s3()).head_object(
            Bucket=BUCKET, Key=storage._object(at.key), ChecksumMode="ENABLED"
        )
        assert head["ChecksumType"] == "FULL_OBJECT"  # created so, and the store derived it
        assert head["ChecksumCRC32C"]

    storage = run(scenario, url)
    assert storage._full_object.known() is True
    assert not any(PROBE_INFIX in key for key in keys_under(moto_endpoint(), url))


def test_a_disagreeing_crc_fails_the_finish_and_the_parts_can_be_taken_again() -> None:
    async def scenario(storage: S3Storage) -> None:
        at, data, held = await two_parts(storage)
        with pytest.raises(StoredChecksumMismatch, match=r"not the .* of the parts partway"):
            await storage.complete(at, [held[0], wrong(held[1])], len(data))
        # As the domain does after a failed check: the parts into a new upload, then finish.
        handle, kept = await storage.reopen(at, [held[0], wrong(held[1])])
        again = Placement(at.key, handle, at.grid)
        restored = [
            dataclasses.replace(r, crc32c=h.crc32c) for r, h in zip(kept, held, strict=True)
        ]
        await storage.complete(again, restored, len(data))
        assert await read(storage, at.key, 0, len(data)) == data

    run(scenario, new_moto_url())


def test_a_finish_retried_after_a_crash_still_compares() -> None:
    """The store completed the upload, then the finish died: the retry finds no upload but the
    object, and compares the store's CRC32C with the record all the same."""

    async def scenario(storage: S3Storage) -> None:
        at, data, held = await two_parts(storage)
        await storage.complete(at, held, len(data))
        await storage.complete(at, held, len(data))  # agreed: done, as before
        with pytest.raises(StoredChecksumMismatch):
            await storage.complete(at, [wrong(held[0]), held[1]], len(data))

    run(scenario, new_moto_url())


def test_checksums_off_asks_the_store_for_nothing() -> None:
    async def scenario(storage: S3Storage) -> None:
        at, data, held = await two_parts(storage)
        listed = await (await storage._s3()).list_parts(
            Bucket=BUCKET, Key=storage._object(at.key), UploadId=at.handle
        )
        assert "ChecksumAlgorithm" not in listed or not listed["ChecksumAlgorithm"]
        assert await storage.complete(at, [held[0], wrong(held[1])], len(data)) is None
        assert await read(storage, at.key, 0, len(data)) == data

    storage = run(scenario, new_moto_url("&checksums=off"))
    assert storage._full_object.known() is False


def test_a_store_out_of_reach_decides_nothing() -> None:
    """A probe that cannot reach the store fails the begin (503) and leaves the question open
    for the next one, rather than turning checksums off for the process's life."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there

    async def scenario(storage: S3Storage) -> None:
        with pytest.raises(StorageUnavailable):
            await storage.begin(new_id("obj"))

    storage = run(scenario, f"s3://{BUCKET}/p?endpoint_url=http://127.0.0.1:{port}")
    assert storage._full_object.known() is None


def test_an_unknown_checksums_setting_is_refused() -> None:
    with pytest.raises(ValueError, match="checksums= takes one of"):
        S3Storage(S3Location.parse("s3://bucket/p?checksums=sometimes"))


def test_the_s3_of_record_is_probed_and_finishes_as_before() -> None:
    """On RGW 16.2 (the CI store) the probe finds no full-object checksum: a record that
    disagrees with the bytes completes as it did before; on moto it is refused."""
    _, endpoint = external()
    url = new_s3_url()
    outcome: list[str] = []

    async def scenario(storage: S3Storage) -> None:
        at, data, held = await two_parts(storage)
        try:
            crc = await storage.complete(at, [held[0], wrong(held[1])], len(data))
            outcome.append("completed" if crc is None else "completed with a CRC")
        except StoredChecksumMismatch:
            outcome.append("refused")
            await storage.discard(at.key, at.handle)

    storage = run(scenario, url)
    kind = os.environ.get("PARTWAY_TEST_S3_KIND", "")
    expected = {"rgw": (False, "completed"), "moto": (True, "refused")}.get(kind)
    if expected is not None:
        assert (storage._full_object.known(), outcome[0]) == expected
    assert not any(PROBE_INFIX in key for key in keys_under(endpoint, url))
