"""How complete reads an S3 upload the client laid out itself (domain/companion.py): the
store's parts decide the size and part size, the client's list must name exactly them."""

from __future__ import annotations

import pytest

from partway.domain.companion import StoredPart, layout_of, listing_problems, same_etag
from partway.domain.direct import BadRanges
from partway.domain.errors import InvalidInput
from partway.domain.policy import StorageCapabilities

MIB = 1024 * 1024
S3 = StorageCapabilities(
    min_part_size=5 * MIB, max_part_size=5 * 1024 * MIB, max_parts=10_000, writes_in_place=False
)
MD5 = "0123456789abcdef0123456789abcdef"


def parts(*sizes: int) -> list[StoredPart]:
    return [StoredPart(n, size, f'"{n:032x}"') for n, size in enumerate(sizes, 1)]


def problems_of(stored: list[StoredPart]) -> list[str]:
    with pytest.raises(BadRanges) as caught:
        layout_of(stored, S3)
    return caught.value.problems


def test_the_first_part_sets_the_grid_and_the_last_may_be_short() -> None:
    assert layout_of(parts(6 * MIB, 6 * MIB, 17), S3) == (12 * MIB + 17, 6 * MIB)
    assert layout_of(parts(5 * MIB, 5 * MIB), S3) == (10 * MIB, 5 * MIB)
    assert layout_of(parts(10), S3) == (10, 10)  # one part: no minimum
    assert layout_of(list(reversed(parts(5 * MIB, 1))), S3) == (5 * MIB + 1, 5 * MIB)


def test_layouts_s3_would_not_assemble() -> None:
    assert problems_of(parts(5 * MIB, 6 * MIB, 1)) == [
        f"part 2: {6 * MIB} bytes, the parts before it {5 * MIB}"
    ]
    small = f"parts of {MIB} bytes: the store's minimum is {5 * MIB}"
    assert problems_of(parts(MIB, MIB)) == [small]
    assert problems_of(parts(5 * MIB, 6 * MIB)) == [f"part 2: {6 * MIB} bytes as the last part"]
    assert problems_of([StoredPart(2, 10, "e")]) == ["part 2: expected part 1"]
    assert problems_of(parts(0)) == ["part 1: 0 bytes as the last part"]
    big = 6 * 1024 * MIB
    large = f"parts of {big} bytes: the store's maximum is {5 * 1024 * MIB}"
    assert problems_of(parts(big, 1)) == [large]
    with pytest.raises(InvalidInput, match="no parts"):
        layout_of([], S3)


def test_the_list_must_name_exactly_the_stored_parts() -> None:
    stored = [StoredPart(1, 5, f'"{MD5}"'), StoredPart(2, 5, '"b"')]
    assert listing_problems([(1, MD5.upper()), (2, "b")], stored) == []
    assert listing_problems([(1, MD5)], stored) == ["part 2: in the store but not listed"]
    assert listing_problems([(1, MD5), (2, "b"), (3, "c")], stored) == ["part 3: not in the store"]
    assert listing_problems([(1, '"x"'), (2, "b")], stored) == [
        f'part 1: the store holds ETag "{MD5}", not "x"'
    ]


def test_etags_compare_without_quotes_and_md5s_in_any_case() -> None:
    assert same_etag(f'"{MD5}"', MD5.upper())
    assert same_etag('"abc-2"', "abc-2")
    assert not same_etag('"abc"', "ABC")  # not an MD5: compared as is
