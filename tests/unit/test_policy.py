from __future__ import annotations

from datetime import UTC, datetime

import pytest

from partway.domain.errors import InvalidInput, InvalidState
from partway.domain.models import Part, SessionState, Tenant, UploadSession
from partway.domain.policy import (
    MIB,
    PartPolicy,
    StorageCapabilities,
    byte_ranges,
    check_part_length,
    expected_part_count,
    format_ranges,
    missing_parts,
    part_size_for,
)

CAPS = StorageCapabilities(
    min_part_size=1, max_part_size=5 * 1024**3, max_parts=100_000, writes_in_place=True
)
S3ISH = StorageCapabilities(
    min_part_size=5 * MIB, max_part_size=5 * 1024**3, max_parts=10_000, writes_in_place=False
)
POLICY = PartPolicy()


def session(
    size: int | None, part_size: int = 8 * MIB, parts: tuple[Part, ...] = ()
) -> UploadSession:
    now = datetime.now(UTC)
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
        created_at=now,
        updated_at=now,
        expires_at=now,
        parts=parts,
    )


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (None, 8 * MIB),
        (0, 8 * MIB),
        (1, 8 * MIB),
        (8 * MIB * 10_000, 8 * MIB),
        (8 * MIB * 10_000 + 1, 9 * MIB),
        (100 * MIB * 10_000, 100 * MIB),
    ],
)
def test_part_size_grows_to_fit_ten_thousand_parts(size: int | None, expected: int) -> None:
    assert part_size_for(size, POLICY, CAPS) == expected


def test_part_size_never_above_the_ceiling() -> None:
    with pytest.raises(InvalidInput):
        part_size_for(100 * MIB * 10_000 + 1, POLICY, CAPS)


def test_store_minimum_wins_over_a_small_default() -> None:
    assert part_size_for(10, PartPolicy(default_part_size=MIB), S3ISH) == 5 * MIB


def test_part_counts_and_lengths() -> None:
    assert expected_part_count(0, 8) == 1
    assert expected_part_count(16, 8) == 2
    assert expected_part_count(17, 8) == 3
    s = session(17, part_size=8)
    check_part_length(s, 0, 8, 3)
    check_part_length(s, 2, 1, 3)
    with pytest.raises(InvalidState):
        check_part_length(s, 2, 8, 3)
    with pytest.raises(InvalidState):
        check_part_length(s, 3, 1, 3)


def test_missing_parts() -> None:
    assert missing_parts(session(0)) == []
    assert missing_parts(session(24, 8, (Part(1, 8),))) == [0, 2]
    assert missing_parts(session(None, 8)) == [0]
    assert missing_parts(session(None, 8, (Part(2, 3),))) == [0, 1]


def test_byte_ranges_merge_neighbours_and_show_gaps() -> None:
    parts = [Part(0, 8), Part(1, 8), Part(3, 2), Part(5, 0)]
    assert format_ranges(byte_ranges(parts, 8)) == "0-15,24-25"
    assert format_ranges(byte_ranges([], 8)) == ""
