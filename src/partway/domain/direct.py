"""Direct-to-storage ranges: the client PUTs a range's bytes straight into the object store over
a URL the store signed (S3: presigned UploadPart; Azure: a SAS Put Block), so they never pass
through partway. Before completing, partway checks what the store holds against what the
session expects, because nothing saw the bytes on their way.

A store offers this as a separate capability (DirectRanges), apart from Storage."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from .errors import InvalidInput
from .models import ByteRange, Placement


@dataclass(frozen=True)
class RangeTicket:
    """Where a client PUTs one range's bytes itself, with these headers, until `expires`."""

    start: int
    size: int
    url: str
    headers: dict[str, str]
    expires: datetime


class DirectRanges(Protocol):
    """A store that takes ranges straight from clients."""

    async def range_ticket(
        self, at: Placement, start: int, size: int, ttl: timedelta
    ) -> RangeTicket:
        """A signed URL for the range starting at `start` (on the grid) of `size` bytes."""

    async def stored_ranges(self, at: Placement) -> list[ByteRange]:
        """The ranges the store holds for the unfinished object: start, size, receipt."""


class BadRanges(InvalidInput):
    """Finish refused: the store does not hold what the session expects."""

    def __init__(self, problems: list[str]) -> None:
        message = "the store's ranges do not match the upload: " + "; ".join(problems[:20])
        super().__init__(message, {"bad_parts": problems[:1000], "bad_count": len(problems)})
        self.problems = problems


def _same_tag(expected: str | None, stored: str | None) -> bool:
    # ETags are quoted by some stores and not by others.
    return expected is None or (expected.strip('"') == (stored or "").strip('"'))


def range_problems(expected: Sequence[ByteRange], stored: Sequence[ByteRange]) -> list[str]:
    """Each expected range missing from the store, of another size, or with another receipt
    (when the client reported one), and each stored range nobody expects."""
    held = {r.start: r for r in stored}
    problems = []
    for want in expected:
        got = held.pop(want.start, None)
        if got is None:
            problems.append(f"range at {want.start}: missing")
        elif got.size != want.size:
            problems.append(f"range at {want.start}: {got.size} bytes stored, {want.size} expected")
        elif not _same_tag(want.tag, got.tag):
            problems.append(f"range at {want.start}: receipt {got.tag} is not {want.tag}")
    problems += [f"range at {start}: not part of the upload" for start in sorted(held)]
    return problems


def verified_ranges(expected: Sequence[ByteRange], stored: Sequence[ByteRange]) -> list[ByteRange]:
    """The stored ranges (with the store's receipts, for `complete`) if they are exactly the
    expected ones; else BadRanges listing every problem."""
    if problems := range_problems(expected, stored):
        raise BadRanges(problems)
    return sorted(stored, key=lambda r: r.start)
