"""Sessions whose parts the client PUTs straight into the object store (partway extension).

A session is direct if its create asked for it, or if its service makes direct the default
(a server setting). partway hands out a signed URL per part it still needs and, at finish,
takes the store's own account of what arrived (ListParts, the block list) instead of bytes it
never saw: each range is checked against the part the session expects (start, size, and the
checksums the client claimed when it asked for the URL), counted against the tenant's quota like
a proxied part, and recorded; then the ordinary finish assembles the file. Parts may be mixed:
those partway received itself (an SDK that knows nothing of direct mode) are already recorded
and skipped."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import timedelta

from .digests import Digest
from .direct import (
    ClaimRepository,
    DirectRanges,
    PartClaim,
    RangeTicket,
    claim_problem,
    verified_ranges,
)
from .errors import InvalidInput, OperationUnsupported
from .models import ByteRange, Entry, SessionState, Tenant, UploadSession
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
        claims: ClaimRepository,
        locks: Locks,
        clock: Clock,
        session_ttl: timedelta,
        default_services: Collection[str] = (),
    ) -> None:
        self._uploads = uploads
        self._direct = direct
        self._repo = repo
        self._claims = claims
        self._locks = locks
        self._clock = clock
        self._session_ttl = session_ttl
        if unable := sorted(set(default_services) - set(direct)):
            raise ValueError(
                f"direct parts cannot be the default of {', '.join(unable)}: "
                "no such service, or its store takes no direct parts"
            )
        self._defaults = frozenset(default_services)

    def offered(self, service_id: str) -> bool:
        return service_id in self._direct

    def mode_for(self, service_id: str, asked: str | None) -> bool:
        """Whether a new session of the service is direct: `direct` (refused where the store
        cannot), `proxied`, `auto` (direct wherever the store can), or None: the default."""
        if asked is None:
            return service_id in self._defaults
        if asked == "auto":
            return self.offered(service_id)
        if asked == "direct" and not self.offered(service_id):
            raise OperationUnsupported(
                f"service {service_id!r} stores on a backend that takes no direct parts"
            )
        return asked == "direct"

    async def _session(self, tenant: Tenant, session_id: str) -> tuple[UploadSession, DirectRanges]:
        session = await self._uploads.get(tenant, session_id)
        store = self._direct.get(session.service_id)
        if not session.direct or store is None:
            raise OperationUnsupported(
                f"session {session_id} takes its parts through partway: direct part URLs are "
                "only for sessions created in direct mode"
            )
        if session.size is None:
            raise InvalidInput("direct parts need a session created with its size")
        return session, store

    async def tickets(
        self, tenant: Tenant, session_id: str, ttl: timedelta = TICKET_TTL
    ) -> list[tuple[int, RangeTicket]]:
        """(part number, signed URL) for every part the session still lacks: neither received
        by partway nor already in the store as expected (so a resumed upload sends only those)."""
        session, store = await self._session(tenant, session_id)
        return await self.tickets_of(session, store, ttl)

    async def session_tickets(
        self, session: UploadSession, ttl: timedelta = TICKET_TTL
    ) -> list[tuple[int, RangeTicket]] | None:
        """The tickets of a session the caller has read, or None if it is not direct."""
        store = self._direct.get(session.service_id)
        if not session.direct or store is None or session.size is None:
            return None
        return await self.tickets_of(session, store, ttl)

    async def tickets_of(
        self, session: UploadSession, store: DirectRanges, ttl: timedelta
    ) -> list[tuple[int, RangeTicket]]:
        missing = missing_parts(session)
        if not missing:
            return []
        held = {r.start: r for r in await store.stored_ranges(session.placement)}
        claims = await self._claims.part_claims(session.id)
        found = []
        for number in missing:
            part = part_range(session, number)
            got = held.get(part.start)
            if (
                got is not None
                and got.size == part.size
                and not claim_problem(claims.get(part.start), got)
            ):
                continue
            ticket = await store.range_ticket(session.placement, part.start, part.size, ttl)
            found.append((number, ticket))
        return found

    async def claimed_tickets(
        self,
        tenant: Tenant,
        session_id: str,
        claims: Sequence[tuple[int, PartClaim]],
        ttl: timedelta = TICKET_TTL,
    ) -> list[tuple[int, RangeTicket]]:
        """Signed URLs for the parts numbered in `claims`, each bound to what its client says
        it will hold (recorded for finish), whether or not the store holds the part already."""
        session, store = await self._session(tenant, session_id)
        assert session.size is not None
        count = len(range(0, session.size, session.part_size))
        bound = []
        for number, claim in claims:
            if not 0 <= number < count:
                raise InvalidInput(f"part {number} is not a part of this upload (0 to {count - 1})")
            bound.append(PartClaim(number * session.part_size, claim.md5, claim.crc32c))
        await self._claims.claim_parts(session.id, bound)
        found = []
        for (number, _), claim in zip(claims, bound, strict=True):
            part = part_range(session, number)
            ticket = await store.range_ticket(session.placement, part.start, part.size, ttl, claim)
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
            claims = await self._claims.part_claims(session.id)
            ranges = verified_ranges(expected, stored, claims)
            for part in ranges:
                label = f"part {part.start // session.part_size}"
                await self._uploads.admission.check_range(session, part.start, part.size, label)
            now = self._clock()
            for part in ranges:
                await self._repo.record_range(session.id, part, now, now + self._session_ttl)

    async def finish(self, tenant: Tenant, session_id: str, digest: Digest | None) -> Entry:
        """Any session's finish: a direct one first adopts what its client stored."""
        session = await self._uploads.get(tenant, session_id, with_ranges=False)
        # A finished session's finish is answered again as it was; its store holds no parts.
        if session.direct and session.state is SessionState.OPEN:
            await self.adopt(tenant, session_id)
        return await self._uploads.finish(tenant, session_id, digest)
