"""Direct-to-storage ranges: the client PUTs a range's bytes straight into the object store over
a URL the store signed (S3: presigned UploadPart; Azure: a SAS Put Block), so they never pass
through partway. Before completing, partway checks what the store holds against what the
session expects, because nothing saw the bytes on their way.

A store offers this as a separate capability (DirectRanges), apart from Storage."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from .errors import InvalidInput
from .models import ByteRange, Placement


@dataclass(frozen=True)
class PartClaim:
    """What the client says the range starting at `start` will hold (hex MD5 and CRC32C, each
    optional). A store binds them into the signed URL where it can, so it refuses other bytes
    itself, and finish compares them with the store's account of the part."""

    start: int
    md5: str | None = None
    crc32c: str | None = None


class ClaimRepository(Protocol):
    async def claim_parts(self, session_id: str, claims: Sequence[PartClaim]) -> None: ...

    async def part_claims(self, session_id: str) -> dict[int, PartClaim]: ...


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
        self, at: Placement, start: int, size: int, ttl: timedelta, claim: PartClaim | None = None
    ) -> RangeTicket:
        """A signed URL for the range starting at `start` (on the grid) of `size` bytes, with
        the claim's checksums bound into it where the store checks them on arrival."""

    async def stored_ranges(self, at: Placement) -> list[ByteRange]:
        """The ranges the store holds for the unfinished object: start, size, receipt, and
        CRC32C (hex) where the store reports one."""


class BadRanges(InvalidInput):
    """Finish refused: the store does not hold what the session expects."""

    def __init__(self, problems: list[str]) -> None:
        message = "the store's ranges do not match the upload: " + "; ".join(problems[:20])
        super().__init__(message, {"bad_parts": problems[:1000], "bad_count": len(problems)})
        self.problems = problems


_MD5_ETAG = re.compile(r"[0-9a-f]{32}")


def etag_md5(tag: str | None) -> str | None:
    """The part's MD5 if its receipt is one: an S3 part's ETag is the hex MD5 of its bytes
    (unless the store encrypts with KMS or customer keys, which partway does not ask for);
    Azure's receipts are block ids, which say nothing of the bytes."""
    bare = (tag or "").strip('"').lower()
    return bare if _MD5_ETAG.fullmatch(bare) else None


def claim_problem(claim: PartClaim | None, got: ByteRange) -> str | None:
    """How the stored range differs from what the client claimed, if it can be seen."""
    if claim is None:
        return None
    md5 = etag_md5(got.tag)
    if claim.md5 is not None and md5 is not None and md5 != claim.md5:
        return f"range at {got.start}: stored MD5 {md5} is not the {claim.md5} claimed"
    if claim.crc32c is not None and got.crc32c is not None and got.crc32c != claim.crc32c:
        return f"range at {got.start}: stored CRC32C {got.crc32c} is not the {claim.crc32c} claimed"
    return None


def range_problems(
    expected: Sequence[ByteRange],
    stored: Sequence[ByteRange],
    claims: Mapping[int, PartClaim] | None = None,
) -> list[str]:
    """Each expected range missing from the store, of another size, or not holding what its
    client claimed (as far as the store's account shows it), and each stored range nobody
    expects."""
    held = {r.start: r for r in stored}
    claims = claims or {}
    problems = []
    for want in expected:
        got = held.pop(want.start, None)
        if got is None:
            problems.append(f"range at {want.start}: missing")
        elif got.size != want.size:
            problems.append(f"range at {want.start}: {got.size} bytes stored, {want.size} expected")
        elif problem := claim_problem(claims.get(want.start), got):
            problems.append(problem)
    problems += [f"range at {start}: not part of the upload" for start in sorted(held)]
    return problems


def verified_ranges(
    expected: Sequence[ByteRange],
    stored: Sequence[ByteRange],
    claims: Mapping[int, PartClaim] | None = None,
) -> list[ByteRange]:
    """The stored ranges (with the store's receipts, for `complete`) if they are exactly the
    expected ones; else BadRanges listing every problem."""
    if problems := range_problems(expected, stored, claims):
        raise BadRanges(problems)
    return sorted(stored, key=lambda r: r.start)
