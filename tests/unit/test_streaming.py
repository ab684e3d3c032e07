"""Writing a range from a body read straight from the connection (steps that yield while bytes are
on their way, each resumed in whichever worker thread is free), on local disk and on a store
that only writes asynchronously."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from partway.domain.digests import MultiHasher
from partway.domain.errors import WrongPartSize
from partway.domain.models import Placement
from partway.domain.ports import Bytes
from partway.storage.local import LocalStorage
from partway.storage.streaming import stream_into

from ..bodies import MemoryBody

MIB = 1024 * 1024
AT = Placement("ses_0123456789abcdef", "", MIB)


class AsyncOnlyWriter:
    """A store writer without a blocking write (as S3's): bytes arrive through `write`."""

    def __init__(self) -> None:
        self.data = bytearray()

    async def write(
        self, chunks: Sequence[Bytes], alongside: Callable[[], None] | None = None
    ) -> None:
        if alongside is not None:
            await asyncio.to_thread(alongside)
        for chunk in chunks:
            self.data += chunk

    async def commit(self) -> str | None:
        return "etag"

    async def close(self) -> None:
        pass


def test_a_socket_body_goes_to_disk_hashed_across_threads(tmp_path: Path) -> None:
    data = os.urandom(3 * MIB + 777)
    body = MemoryBody(data)
    storage = LocalStorage(tmp_path, fsync=False)
    hasher = MultiHasher(["sha1"])

    async def scenario() -> int:
        await storage.begin("ses_0123456789abcdef")
        written = await storage.write_range(AT, 100, body, len(data), len(data), hasher.update)
        return written.size

    assert asyncio.run(scenario()) == len(data)
    stored = (tmp_path / "objects" / "ses_0123456789abcdef").read_bytes()
    assert stored[100:] == data
    assert hasher.hexdigests()["sha1"] == hashlib.sha1(data).hexdigest()


def test_a_socket_body_reaches_an_async_only_store_block_by_block() -> None:
    data = os.urandom(2 * MIB + 5)
    writer = AsyncOnlyWriter()
    hasher = MultiHasher(["sha256"])
    received = asyncio.run(stream_into(MemoryBody(data), writer, hasher.update, len(data)))
    assert received == len(data)
    assert bytes(writer.data) == data
    assert hasher.hexdigests()["sha256"] == hashlib.sha256(data).hexdigest()


def test_a_failed_read_stops_the_body_and_raises(tmp_path: Path) -> None:
    body = MemoryBody(os.urandom(4 * MIB), fail_after=2 * MIB + 1)
    storage = LocalStorage(tmp_path, fsync=False)

    async def scenario() -> None:
        await storage.begin("ses_0123456789abcdef")
        await storage.write_range(AT, 0, body, body.length, body.length)

    with pytest.raises(ConnectionResetError):
        asyncio.run(scenario())
    assert body.closed


def test_a_socket_body_longer_than_its_part_is_refused_before_reading() -> None:
    body = MemoryBody(b"x" * 10)
    with pytest.raises(WrongPartSize):
        asyncio.run(stream_into(body, AsyncOnlyWriter(), None, 9))
    assert not body.threads


@pytest.mark.parametrize("fsync", [False, True])
def test_a_body_longer_than_a_mapping_window_is_hashed_window_by_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fsync: bool
) -> None:
    """Windows of the stored range are mapped one after another, from unaligned offsets; with
    fsync, each window lands in steps handed to writeback."""
    from partway.storage import local

    monkeypatch.setattr(local, "MAP_WINDOW", 64 * 1024 + 3)
    monkeypatch.setattr(local, "FLUSH_STEP", 10_000)
    data = os.urandom(1 * MIB + 12345)
    hasher = MultiHasher(["sha1", "sha256"])
    storage = LocalStorage(tmp_path, fsync=fsync)

    async def scenario() -> int:
        await storage.begin("ses_0123456789abcdef")
        written = await storage.write_range(
            AT, 4097, MemoryBody(data), len(data), len(data), hasher.update
        )
        return written.size

    assert asyncio.run(scenario()) == len(data)
    stored = (tmp_path / "objects" / "ses_0123456789abcdef").read_bytes()
    assert stored[4097:] == data and stored[:4097] == bytes(4097)
    assert hasher.hexdigests() == {
        "sha1": hashlib.sha1(data).hexdigest(),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
