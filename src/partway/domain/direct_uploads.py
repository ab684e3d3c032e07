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
from .errors import InvalidInput, NotFound, OperationUnsupported
from .models import ByteRange, Entry, SessionState, Tenant, UploadSession
from .policy import missing_parts
from .ports import Clock, Locks
from .repositories import UploadRepository
from .signed_parts import SignedParts
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
        served: SignedParts | None = None,
        served_services: Collection[str] = (),
    ) -> None:
        """`direct`: the stores clients PUT into themselves; `served_services`: those whose
        part URLs partway serves itself (`served`, local disk), in direct mode only when asked."""
        self._uploads = uploads
        self._direct = direct
        self._repo = repo
        self._claims = claims
        self._locks = locks
        self._clock = clock
        self._session_ttl = session_ttl
        self._served = served
        self._served_services = frozenset(served_services) if served is not None else frozenset()
        if unable := sorted(set(default_services) - set(direct) - self._served_services):
            raise ValueError(
                f"direct parts cannot be the default of {', '.join(unable)}: "
                "no such service, or its store takes no direct parts"
            )
        self._defaults = frozenset(default_services)

    @property
    def served(self) -> SignedParts:
        """The part URLs partway serves itself (NotFound where it serves none)."""
        if self._served is None:
            raise NotFound("this part URL is not valid")
        return self._served

    def offered(self, service_id: str) -> bool:
        """Whether the service's store takes parts that bypass partway."""
        return service_id in self._direct

    def _takes_direct(self, service_id: str) -> bool:
        return service_id in self._direct or service_id in self._served_services

    def mode_for(self, service_id: str, asked: str | None, size_known: bool = True) -> bool:
        """Whether a new session of the service is direct: `direct` (refused where the store
        cannot), `proxied`, `auto` (direct wherever the store can, or the service's default is
        direct: partway's own part URLs on local disk), or None: the default.
        Direct parts are laid out by the declared size: without one, only `direct` insists."""
        if asked is None:
            return size_known and service_id in self._defaults
        if asked == "auto":  # where the bytes bypass partway, or where direct is the default
            return size_known and (self.offered(service_id) or service_id in self._defaults)
        if asked == "direct" and not size_known:
            raise InvalidInput("direct parts need a session created with its size")
        if asked == "direct" and not self._takes_direct(service_id):
            raise OperationUnsupported(
                f"service {service_id!r} stores on a backend that takes no direct parts"
            )
        return asked == "direct"

    async def _session(
        self, tenant: Tenant, session_id: str
    ) -> tuple[UploadSession, DirectRanges | None]:
        """The direct session and its store's DirectRanges (None: partway serves its URLs)."""
        session = await self._uploads.get(tenant, session_id)
        store = self._direct.get(session.service_id)
        if not session.direct or not self._takes_direct(session.service_id):
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
        if not session.direct or not self._takes_direct(session.service_id):
            return None
        if session.size is None:
            return None
        return await self.tickets_of(session, store, ttl)

    async def _ticket(
        self,
        session: UploadSession,
        store: DirectRanges | None,
        number: int,
        ttl: timedelta,
        claim: PartClaim | None = None,
    ) -> RangeTicket:
        part = part_range(session, number)
        if store is None:
            assert self._served is not None
            return self._served.ticket(session, number, part, ttl, claim)
        return await store.range_ticket(session.placement, part.start, part.size, ttl, claim)

    async def tickets_of(
        self, session: UploadSession, store: DirectRanges | None, ttl: timedelta
    ) -> list[tuple[int, RangeTicket]]:
        missing = missing_parts(session)
        if not missing:
            return []
        # Parts partway serves are recorded as they arrive: the store holds no others.
        stored = [] if store is None else await store.stored_ranges(session.placement)
        held = {r.start: r for r in stored}
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
            found.append((number, await self._ticket(session, store, number, ttl)))
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
            found.append((number, await self._ticket(session, store, number, ttl, claim)))
        return found

    async def adopt(self, tenant: Tenant, session_id: str) -> None:
        """Record the parts the client stored directly, after checking each of them; refuses
        (BadRanges) with every wrong part listed, recording none."""
        if (await self._session(tenant, session_id))[1] is None:
            return  # partway served the URLs: every part was recorded as it arrived
        async with self._locks.session_exclusive(session_id):
            session, store = await self._session(tenant, session_id)
            assert store is not None
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
        if (
            session.direct
            and session.state is SessionState.OPEN
            and self.offered(session.service_id)
        ):
            await self.adopt(tenant, session_id)
        # Adopting records ranges only: what finish reads first is as it was.
        return await self._uploads.finish(tenant, session_id, digest, read=session)
