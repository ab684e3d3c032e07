"""Property tests (hypothesis) of the part and range arithmetic."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from partway.domain.errors import InvalidInput, RangeNotSatisfiable
from partway.domain.files import resolve_range
from partway.domain.models import ByteRange
from partway.domain.policy import (
    MIB,
    PartPolicy,
    StorageCapabilities,
    check_part_length,
    expected_part_count,
    format_ranges,
    merged_ranges,
    missing_parts,
    part_length,
    part_size_for,
)

from .factories import LOCAL, S3_LIKE, session


@given(
    size=st.one_of(st.none(), st.integers(0, 100 * MIB * 10_000)),
    caps=st.sampled_from([LOCAL, S3_LIKE]),
    hint=st.one_of(st.none(), st.integers(1, 200 * MIB)),
)
def test_part_size_fits_every_declared_size(
    size: int | None, caps: StorageCapabilities, hint: int | None
) -> None:
    policy = PartPolicy()
    try:
        ps = part_size_for(size, policy, caps, hint)
    except InvalidInput:
        assert size is not None and size > policy.max_part_size * min(
            policy.max_parts, caps.max_parts
        )
        return
    assert caps.min_part_size <= ps <= min(policy.max_part_size, caps.max_part_size)
    if size is not None:
        assert expected_part_count(size, ps) <= min(policy.max_parts, caps.max_parts)


@given(count=st.integers(1, 300), part_size=st.integers(1, 10**5), data=st.data())
def test_uploading_every_part_once_completes_the_file(
    count: int, part_size: int, data: st.DataObject
) -> None:
    size = data.draw(st.integers((count - 1) * part_size + 1, count * part_size))
    if count == 1 and data.draw(st.booleans()):
        size = 0
    assert expected_part_count(size, part_size) == count
    order = data.draw(st.permutations(range(count)))
    parts: list[ByteRange] = []
    for number in order:
        length = part_length(size, part_size, number)
        check_part_length(session(size, part_size), number, length, count)
        parts.append(ByteRange(number * part_size, length))
    done = session(size, part_size, tuple(parts))
    assert missing_parts(done) == []
    assert sum(p.size for p in parts) == size
    expected = f"0-{size - 1}" if size else ""
    assert format_ranges(merged_ranges(parts)) == expected


@given(
    part_size=st.integers(1, 1000),
    numbers=st.sets(st.integers(0, 50), max_size=30),
    last_short=st.integers(0, 999),
)
def test_byte_ranges_are_exactly_the_stored_bytes(
    part_size: int, numbers: set[int], last_short: int
) -> None:
    top = max(numbers, default=0)
    parts = [
        ByteRange(
            n * part_size, part_size if n != top else max(1, part_size - last_short % part_size)
        )
        for n in numbers
    ]
    ranges = merged_ranges(parts)
    stored = set()
    for p in parts:
        stored |= set(range(p.start, p.end))
    covered = set()
    for first, last in ranges:
        assert first <= last
        covered |= set(range(first, last + 1))
    assert covered == stored
    for (_, end), (start, _) in itertools.pairwise(ranges):
        assert start > end + 1  # sorted, disjoint and never adjacent (adjacent ones merge)


@given(
    size=st.integers(0, 10**6),
    first=st.one_of(st.none(), st.integers(0, 2 * 10**6)),
    last=st.one_of(st.none(), st.integers(0, 2 * 10**6)),
)
def test_download_ranges_stay_inside_the_file(
    size: int, first: int | None, last: int | None
) -> None:
    if first is not None and last is not None and last < first:
        return
    try:
        start, end = resolve_range((first, last), size)
    except RangeNotSatisfiable:
        assert size == 0 or (first is not None and first >= size) or last in (None, 0)
        return
    assert 0 <= start < end <= size
    if first is not None:
        assert start == first
