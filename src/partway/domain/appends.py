"""Appends at an offset, the way tus v1 and the IETF resumable-upload draft write: a range
starts exactly where the upload's contiguous bytes end, and the offset a client is told is
that end. A second front's rule over the same sessions as Apideck's parts (rules.PartRule)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import InvalidInput, InvalidState, PayloadTooLarge
from .models import ByteRange, SessionState, UploadSession
from .policy import StorageCapabilities
from .rules import RangePlan

if TYPE_CHECKING:
    from .models import Tenant
    from .uploads import UploadService


class OffsetMismatch(InvalidState):
    """An append that does not start where the upload's bytes end (tus 409, draft 409 with
    `mismatching-upload-offset`)."""

    def __init__(self, expected: int, provided: int) -> None:
        super().__init__(
            f"the upload is at offset {expected}, the request appends at {provided}",
            {"expected-offset": expected, "provided-offset": provided},
        )
        self.expected = expected
        self.provided = provided


class LengthMismatch(InvalidInput):
    """A declared upload length that contradicts the bytes or the length already known (draft
    `inconsistent-upload-length`)."""


def contiguous_end(ranges: Iterable[ByteRange]) -> int:
    """One past the last byte of the run of bytes that starts at 0 (0 if none)."""
    end = 0
    for held in sorted(ranges, key=lambda r: r.start):
        if held.start > end:
            break
        end = max(end, held.end)
    return end


@dataclass(frozen=True)
class AppendRule:
    """An append of a request's body at `offset`.

    `declared_end` is the upload's length when the client states it on this request (a
    deferred length); `max_append` caps a body when no length is known at all."""

    offset: int
    max_append: int
    declared_end: int | None = None

    @property
    def label(self) -> str:
        return f"the append at offset {self.offset}"

    @property
    def ordinal(self) -> int | None:
        return None

    @property
    def ranges_before_locks(self) -> bool:
        # The offset check needs the ranges on the first plan too: without them a stale
        # offset would take the range lock of a start nobody else writes at.
        return True

    def needs_ranges(self, session: UploadSession) -> bool:
        return True

    def upload_end(self, session: UploadSession) -> int | None:
        known, said = session.size, self.declared_end
        if known is not None and said is not None and known != said:
            raise LengthMismatch(
                f"the upload's length is {session.size}, the request says {self.declared_end}"
            )
        return session.size if session.size is not None else self.declared_end

    def plan(
        self, session: UploadSession, length: int | None, caps: StorageCapabilities
    ) -> RangePlan:
        # A store of whole parts (S3) takes appends too: UploadService cuts them on the grid.
        held = contiguous_end(session.ranges)
        if self.offset != held:
            raise OffsetMismatch(held, self.offset)
        end = self.upload_end(session)
        if end is not None and end < held:
            raise LengthMismatch(f"the upload already holds {held} bytes, more than {end}")
        limit = self.max_append if end is None else end - self.offset
        if length is not None and length > limit:
            raise PayloadTooLarge(
                f"{self.label} is {length} bytes; the upload takes at most {limit} more"
            )
        return RangePlan(self.offset, length, limit)

    def accept(self, session: UploadSession, received: int) -> None:
        """The store refuses more than the plan's limit; any shorter append is fine."""


async def declare_length(
    uploads: UploadService, tenant: Tenant, session_id: str, size: int
) -> UploadSession:
    """A deferred length, stated by a request after create: kept with the session once (tus
    lets it be sent once; later requests, a restarted server and HEAD then know it). The same
    length again is a no-op; another, or one below the bytes already in, is refused."""
    session = await uploads.get(tenant, session_id)
    while session.size is None:
        held = contiguous_end(session.ranges)
        if size < held:
            raise LengthMismatch(f"the upload already holds {held} bytes, more than {size}")
        uploads.admission.check_declared_size(size)
        # From now on it reserves the whole length, not only what it holds: check the quota.
        await uploads.admission.check_range(session, held, size - held, "the stated length")
        if await uploads.record_size(session, size):
            return await uploads.get(tenant, session_id)
        session = await uploads.get(tenant, session_id)  # raced, or no longer open
        if session.state is not SessionState.OPEN:
            raise InvalidState(f"upload {session_id!r} is {session.state.value}")
    if session.size != size:
        raise LengthMismatch(f"the upload's length is {session.size}, the request says {size}")
    return session
