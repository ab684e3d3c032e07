"""Sessions whose parts the client PUTs straight into the object store (partway extension).

partway hands out a signed URL per missing part and, at finish, takes the store's own account
of what arrived (ListParts, the block list) instead of bytes it never saw: each range is checked
against the part the session expects (start, size, receipt if the client reported one), counted
against the tenant's quota like a proxied part, and recorded; then the ordinary finish assembles
the file. Parts may be mixed: those partway received itself are already recorded and skipped."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from .direct import DirectRanges, RangeTicket, verified_ranges
from .errors import InvalidInput, OperationUnsupported
from .models import ByteRange, Tenant, UploadSession
from .policy import missing_parts
from .ports import Clock, Locks
from .repositories import UploadRepository
from .uploads import UploadService

TICKET_TTL = timedelta(hours=1)


def part_range(session: UploadSession, number: int) -> ByteRange:
    """Where part `number` sits in a session of known size."""
    assert session.size is not None
    start = number * session.part_size
    return ByteRange(start, min(session.part_size, session.size - start))


class DirectUploads:
    def __init__(
        self,
        uploads: UploadService,
        direct: Mapping[str, DirectRanges],
        repo: UploadRepository,
        locks: Locks,
        clock: Clock,
        session_ttl: timedelta,
    ) -> None:
        self._uploads = uploads
        self._direct = direct
        self._repo = repo
        self._locks = locks
        self._clock = clock
        self._session_ttl = session_ttl

    def offered(self, service_id: str) -> bool:
        return service_id in self._direct

    async def _session(self, tenant: Tenant, session_id: str) -> tuple[UploadSession, DirectRanges]:
        session = await self._uploads.get(tenant, session_id)
        store = self._direct.get(session.service_id)
        if store is None:
            raise OperationUnsupported(
                f"service {session.service_id!r} stores on a backend that takes no direct parts"
            )
        if session.size is None:
            raise InvalidInput("direct parts need a session created with its size")
        return session, store

    async def tickets(
        self, tenant: Tenant, session_id: str, ttl: timedelta = TICKET_TTL
    ) -> list[tuple[int, RangeTicket]]:
        """(part number, signed URL) for every part the session still lacks."""
        session, store = await self._session(tenant, session_id)
        found = []
        for number in missing_parts(session):
            part = part_range(session, number)
            ticket = await store.range_ticket(session.placement, part.start, part.size, ttl)
            found.append((number, ticket))
        return found

    async def adopt(self, tenant: Tenant, session_id: str) -> None:
        """Record the parts the client stored directly, after checking each of them; refuses
        (BadRanges) with every wrong part listed, recording none."""
        await self._session(tenant, session_id)
        async with self._locks.session_exclusive(session_id):
            session, store = await self._session(tenant, session_id)
            recorded = {r.start for r in session.ranges}
            stored = [
                r for r in await store.stored_ranges(session.placement) if r.start not in recorded
            ]
            held = {r.start for r in stored}
            # Parts neither recorded nor stored are left to finish, which lists them as missing.
            expected = [
                part
                for part in (part_range(session, n) for n in missing_parts(session))
                if part.start in held
            ]
            ranges = verified_ranges(expected, stored)
            for part in ranges:
                label = f"part {part.start // session.part_size}"
                await self._uploads.admission.check_range(session, part.start, part.size, label)
            now = self._clock()
            for part in ranges:
                await self._repo.record_range(session.id, part, now, now + self._session_ttl)
