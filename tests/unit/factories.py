"""Domain values for unit tests."""

from __future__ import annotations

from datetime import UTC, datetime

from partway.domain.models import ByteRange, SessionState, Tenant, UploadSession
from partway.domain.policy import MIB, StorageCapabilities

LOCAL = StorageCapabilities(
    min_part_size=1, max_part_size=5 * 1024**3, max_parts=100_000, writes_in_place=True
)
S3_LIKE = StorageCapabilities(
    min_part_size=5 * MIB, max_part_size=5 * 1024**3, max_parts=10_000, writes_in_place=False
)
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def part(number: int, size: int, part_size: int) -> ByteRange:
    """Apideck part `number` as the range it is."""
    return ByteRange(number * part_size, size)


def session(
    size: int | None, part_size: int = 8 * MIB, ranges: tuple[ByteRange, ...] = ()
) -> UploadSession:
    return UploadSession(
        id="ses_1",
        tenant=Tenant("a", "c"),
        service_id="local",
        drive_id="default",
        folder_id="root",
        name="n",
        size=size,
        part_size=part_size,
        state=SessionState.OPEN,
        storage_key="obj_1",
        created_at=NOW,
        updated_at=NOW,
        expires_at=NOW,
        ranges=ranges,
    )
