"""CRC32C on the upload service (fakes): parts verified as they stream, the file's CRC32C
combined from the parts' at finish and checked against the client's without a read."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator

import pytest
from awscrt import checksums

from partway.domain.digests import Digest, parse_digest
from partway.domain.errors import DigestMismatch
from partway.domain.policy import StorageCapabilities
from partway.services import Services

from ..fakes import SERVICE, fake_services
from .test_uploads import GRID_ONLY, PART, TENANT, Clock, create, go, put, read


@pytest.fixture(params=["in-place", "grid-only"])
def services(request: pytest.FixtureRequest) -> Services:
    caps = (
        GRID_ONLY if request.param == "grid-only" else StorageCapabilities(1, 1 << 30, 10**5, True)
    )
    return fake_services(Clock(), caps, default_part_size=PART, session_ttl_seconds=3600)


def crc(data: bytes) -> Digest | None:
    value: int = checksums.crc32c(data)
    return parse_digest("crc32c=" + base64.b64encode(value.to_bytes(4, "big")).decode())


def crc_hex(data: bytes) -> str:
    value: int = checksums.crc32c(data)
    return f"{value:08x}"


def no_reads(services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(key: str, start: int, length: int) -> AsyncIterator[bytes]:
        raise AssertionError("finish read the file")

    monkeypatch.setattr(services.uploads.storage(SERVICE), "read", refuse)


def test_the_file_crc_is_combined_from_the_parts_without_a_read(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = bytes(range(250)) * 3

    async def scenario() -> None:
        session = await create(services, "c.bin", len(payload))
        numbers = list(range(0, len(payload), PART))
        for start in reversed(numbers):  # any order
            piece = payload[start : start + PART]
            await put(services, session.id, start // PART, piece, crc(piece))
        held = await services.uploads.get(TENANT, session.id)
        assert held.ranges[0].crc32c == crc_hex(payload[:PART])
        no_reads(services, monkeypatch)
        with pytest.raises(DigestMismatch):
            await services.uploads.finish(TENANT, session.id, crc(payload + b"!"))
        entry = await services.uploads.finish(TENANT, session.id, crc(payload))
        assert entry.crc32c == crc_hex(payload)
        monkeypatch.undo()
        assert await read(services, entry.storage_key or "", len(payload)) == payload

    go(scenario())


def test_a_wrong_part_crc_is_refused(services: Services) -> None:
    async def scenario() -> None:
        session = await create(services, "w.bin", 4)
        with pytest.raises(DigestMismatch):
            await put(services, session.id, 0, b"data", crc(b"dat!"))
        assert (await services.uploads.get(TENANT, session.id)).ranges == ()

    go(scenario())


def test_sha1_parts_get_a_crc_too_and_parts_without_digests_fall_back_to_a_read(
    services: Services,
) -> None:
    sha = base64.b64encode(hashlib.sha1(b"01234567").digest()).decode()

    async def scenario() -> None:
        session = await create(services, "s.bin", 10)
        await put(services, session.id, 0, b"01234567", parse_digest("sha=" + sha))
        await put(services, session.id, 1, b"89")  # no digest: no CRC for this range
        held = await services.uploads.get(TENANT, session.id)
        assert [r.crc32c for r in held.ranges] == [crc_hex(b"01234567"), None]
        with pytest.raises(DigestMismatch):
            await services.uploads.finish(TENANT, session.id, crc(b"0123456789?"))
        entry = await services.uploads.finish(TENANT, session.id, crc(b"0123456789"))
        assert entry.crc32c == crc_hex(b"0123456789")  # verified by reading the file

    go(scenario())


def test_without_any_digest_the_file_has_no_crc(services: Services) -> None:
    async def scenario() -> None:
        session = await create(services, "n.bin", 3)
        await put(services, session.id, 0, b"abc")
        entry = await services.uploads.finish(TENANT, session.id, None)
        assert entry.crc32c is None

    go(scenario())
