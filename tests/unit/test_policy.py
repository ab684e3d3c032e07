from __future__ import annotations

import pytest

from partway.domain.errors import InvalidInput, InvalidState
from partway.domain.policy import (
    MIB,
    PartPolicy,
    check_part_length,
    expected_part_count,
    format_ranges,
    merged_ranges,
    missing_parts,
    part_size_for,
)

from .factories import LOCAL, S3_LIKE, part, session

POLICY = PartPolicy()


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
    assert part_size_for(size, POLICY, LOCAL) == expected


def test_part_size_never_above_the_ceiling() -> None:
    with pytest.raises(InvalidInput):
        part_size_for(100 * MIB * 10_000 + 1, POLICY, LOCAL)


def test_store_minimum_wins_over_a_small_default() -> None:
    assert part_size_for(10, PartPolicy(default_part_size=MIB), S3_LIKE) == 5 * MIB


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
    assert missing_parts(session(24, 8, (part(1, 8, 8),))) == [0, 2]
    assert missing_parts(session(None, 8)) == [0]
    assert missing_parts(session(None, 8, (part(2, 3, 8),))) == [0, 1]


def test_byte_ranges_merge_neighbours_and_show_gaps() -> None:
    parts = [part(0, 8, 8), part(1, 8, 8), part(3, 2, 8), part(5, 0, 8)]
    assert format_ranges(merged_ranges(parts)) == "0-15,24-25"
    assert format_ranges(merged_ranges([])) == ""
