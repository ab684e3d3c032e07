"""What a front demands of one range, as values the upload service applies at the right moments:
before the locks, under them, and once the bytes are in. Apideck's parts are one rule; a front
appending at offsets would be another."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from .errors import PayloadTooLarge
from .models import UploadSession
from .policy import (
    PartPolicy,
    StorageCapabilities,
    check_part_length,
    check_part_number,
    check_unknown_size_order,
    max_part_count,
    part_length,
    part_start,
)


@dataclass(frozen=True)
class RangePlan:
    """Where a range goes and how many bytes it may take."""

    start: int
    length: int | None  # known before the bytes arrive (declared, or the body's length)
    limit: int  # more than this is refused


class RangeRule(Protocol):
    @property
    def label(self) -> str:
        """How errors name the range ("part 3")."""

    @property
    def ordinal(self) -> int | None:
        """The front's number for the range, for events (Apideck: the part number)."""

    def plan(
        self, session: UploadSession, length: int | None, caps: StorageCapabilities
    ) -> RangePlan:
        """Check a range of `length` bytes (None: unknown) against the session; raises if
        refused. Called before the locks and again under them, where `session.ranges` holds
        every range if `needs_ranges`, else at most the one at the plan's start."""

    def needs_ranges(self, session: UploadSession) -> bool: ...

    @property
    def ranges_before_locks(self) -> bool:
        """Whether the first plan (before the locks) needs `session.ranges` too."""

    def accept(self, session: UploadSession, received: int) -> None:
        """Judge the byte count that arrived; raises to drop the range."""


@dataclass(frozen=True)
class PartRule:
    """Apideck's parts: part n starts at n × part_size and is exactly part_size bytes, the last
    one the rest; with no declared size only the highest part may be short. A part sent again
    replaces the first."""

    number: int
    policy: PartPolicy

    @property
    def label(self) -> str:
        return f"part {self.number}"

    @property
    def ordinal(self) -> int | None:
        return self.number

    def plan(
        self, session: UploadSession, length: int | None, caps: StorageCapabilities
    ) -> RangePlan:
        count = max_part_count(session, self.policy, caps)
        if length is not None:
            if length > self.policy.max_part_size:
                raise PayloadTooLarge(
                    f"part body of {length} bytes exceeds the "
                    f"{self.policy.max_part_size}-byte limit"
                )
            check_part_length(session, self.number, length, count)
            check_unknown_size_order(session, self.number, length)
        else:
            check_part_number(self.number, count)
        start = part_start(self.number, session.part_size)
        if session.size is None:
            return RangePlan(start, length, session.part_size)
        exact = part_length(session.size, session.part_size, self.number)
        return RangePlan(start, exact, exact)

    def needs_ranges(self, session: UploadSession) -> bool:
        return session.size is None  # only then do the other parts constrain this one

    @property
    def ranges_before_locks(self) -> bool:
        return False  # the hot path reads no range list before the locks

    def accept(self, session: UploadSession, received: int) -> None:
        if session.size is not None:
            check_part_length(session, self.number, received, self.number + 1)
        else:
            check_unknown_size_order(session, self.number, received)
