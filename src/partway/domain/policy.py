"""Part-size policy and the Apideck part layout of a session over its byte ranges: part n is the
range starting at n × part_size."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import InvalidInput, InvalidState, WrongPartSize
from .models import ByteRange, UploadSession

MIB = 1024 * 1024


@dataclass(frozen=True)
class StorageCapabilities:
    """Limits a storage backend declares; the policy reads them instead of hard-coding any."""

    min_part_size: int
    max_part_size: int
    max_parts: int
    # True: a range may start at any byte (it is written in place in one object). False: ranges
    # start on the session's grid (multiples of its part size) and are assembled at complete.
    writes_in_place: bool


@dataclass(frozen=True)
class PartPolicy:
    """Operator-configured limits."""

    default_part_size: int = 8 * MIB
    max_part_size: int = 100 * MIB
    max_parts: int = 10_000


def part_size_for(
    size: int | None, policy: PartPolicy, caps: StorageCapabilities, hint: int | None = None
) -> int:
    """Smallest MiB-aligned part size ≥ the default (or the client's hint) that fits `size`
    in the allowed part count."""
    max_parts = min(policy.max_parts, caps.max_parts)
    ceiling = min(policy.max_part_size, caps.max_part_size)
    start = policy.default_part_size if hint is None else min(hint, ceiling)
    part_size = max(start, caps.min_part_size)
    if size is not None and size > part_size * max_parts:
        needed = -(-size // max_parts)
        part_size = -(-needed // MIB) * MIB
    if part_size > ceiling:
        limit = ceiling * max_parts
        raise InvalidInput(
            f"size {size} exceeds the largest upload this service accepts ({limit} bytes)"
        )
    return part_size


def max_part_count(session: UploadSession, policy: PartPolicy, caps: StorageCapabilities) -> int:
    if session.size is None:
        return min(policy.max_parts, caps.max_parts)
    return expected_part_count(session.size, session.part_size)


def expected_part_count(size: int, part_size: int) -> int:
    # A zero-byte file is one empty part, so the SDK's "upload part 0, then finish" flow works.
    return max(1, -(-size // part_size))


def check_part_number(number: int, count: int) -> None:
    if number >= count:
        raise InvalidState(
            f"part_number {number} is out of range: this session has parts 0 to {count - 1}"
        )


def check_part_length(session: UploadSession, number: int, length: int, count: int) -> None:
    """Every part but the last is exactly part_size; the last is exactly the rest."""
    check_part_number(number, count)
    if session.size is None:
        if length > session.part_size:
            raise WrongPartSize(
                f"part {number} is {length} bytes; parts are at most {session.part_size} bytes"
            )
        return
    expected = part_length(session.size, session.part_size, number)
    if length != expected:
        raise WrongPartSize(f"part {number} must be exactly {expected} bytes, got {length}")


def part_length(size: int, part_size: int, number: int) -> int:
    return max(0, min(part_size, size - number * part_size))


def part_start(number: int, part_size: int) -> int:
    """The byte at which part `number` starts."""
    return number * part_size


def part_number(held: ByteRange, part_size: int) -> int:
    """The part a recorded range is (ranges of a session with parts start on its grid)."""
    return held.start // part_size


def check_unknown_size_order(session: UploadSession, number: int, length: int) -> None:
    """With no declared size, only the highest part may be short."""
    if session.size is not None:
        return
    for held in session.ranges:
        other = part_number(held, session.part_size)
        if other > number and length < session.part_size:
            raise WrongPartSize(
                f"part {number} is short ({length} bytes) but part {other} follows it; "
                "only the last part may be shorter than part_size"
            )
        if other < number and held.size < session.part_size:
            raise InvalidState(
                f"part {other} was short ({held.size} bytes), so it is the last part; "
                f"part {number} cannot follow it"
            )


def missing_parts(session: UploadSession) -> list[int]:
    """Part numbers still needed before finish: grid cells not wholly covered by received bytes.
    Judged by bytes, not by where ranges start, so appends of any size (tus) count too."""
    if session.size == 0:
        return []
    if session.size is None and not session.ranges:
        return [0]
    covered = merged_ranges(session.ranges)
    end = session.size if session.size is not None else max(r.end for r in session.ranges)
    count = expected_part_count(end, session.part_size) if end else 0
    have = set()
    runs = iter(covered)
    run = next(runs, None)
    for number in range(count):  # one sweep: cells and runs are both in order
        first = number * session.part_size
        last = min(end, first + session.part_size) - 1
        while run is not None and run[1] < last:
            run = next(runs, None)
        if run is not None and run[0] <= first:
            have.add(number)
    if session.size is None:
        # A highest part received empty still counts: it marks the end.
        have |= {part_number(r, session.part_size) for r in session.ranges if not r.size}
    return [n for n in range(count) if n not in have]


def total_size(session: UploadSession) -> int:
    if session.size is not None:
        return session.size
    return sum(r.size for r in session.ranges)


def merged_ranges(held: tuple[ByteRange, ...] | list[ByteRange]) -> list[tuple[int, int]]:
    """Stored bytes as merged inclusive (first, last) ranges."""
    ranges: list[tuple[int, int]] = []
    for piece in sorted(held, key=lambda r: r.start):
        if piece.size == 0:
            continue
        first, last = piece.start, piece.end - 1
        if ranges and ranges[-1][1] + 1 == first:
            ranges[-1] = (ranges[-1][0], last)
        else:
            ranges.append((first, last))
    return ranges


def format_ranges(ranges: list[tuple[int, int]]) -> str:
    return ",".join(f"{a}-{b}" for a, b in ranges)
