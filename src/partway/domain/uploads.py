"""Upload sessions: create, inspect, write byte ranges, finish, abort."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta

from .admission import Admission, Limits
from .appends import AppendRule
from .assembly import check_complete, combined_crc32c, file_entry, verify_whole
from .digests import Digest, MultiHasher
from .errors import (
    BodyCut,
    DigestMismatch,
    DomainError,
    InvalidInput,
    InvalidState,
    NameTaken,
    NotFound,
    OperationUnsupported,
)
from .events import (
    EventSink,
    NoEvents,
    RangeRecorded,
    RangeRejected,
    SessionAborted,
    SessionCreated,
    SessionExpired,
    SessionFinished,
    rejection_reason,
)
from .grid_appends import GridAppend, append_on_grid
from .hooks import (
    CreateAsk,
    FinishAsk,
    Hooks,
    NoHooks,
    changed_request,
    hooked_part_size,
)
from .models import (
    ByteRange,
    Entry,
    NewSession,
    SessionState,
    SessionSummary,
    Tenant,
    UploadSession,
    new_id,
)
from .names import check_name
from .paging import DEFAULT_PAGE, After, Page, after_cursor, check_limit, cursor_after
from .policy import PartPolicy, part_size_for, total_size
from .ports import Clock, Locks, RangeCopies, Source, Storage, Tails
from .repositories import UploadRepository
from .rules import RangePlan, RangeRule
from .tree import Tree

# The range-lock key every grid append of a session takes: a byte no upload reaches (S3 objects
# end at 5 TiB), valid for every Locks backend (file locks lock that byte of a lock file).
APPEND_LOCK = 1 << 62
# Sessions whose unchanging fields are kept for parts' first plans: the most recently used.
PLANNING_VIEWS = 10_000


@dataclass(frozen=True)
class Lifetimes:
    session_ttl: timedelta = timedelta(days=7)
    finished_retention: timedelta = timedelta(days=1)


class UploadService:
    def __init__(
        self,
        repo: UploadRepository,
        storages: Mapping[str, Storage],
        locks: Locks,
        policy: PartPolicy,
        lifetimes: Lifetimes,
        clock: Clock,
        admission: Admission | None = None,
        events: EventSink | None = None,
        hooks: Hooks | None = None,
        tails: Mapping[str, Tails] | None = None,
        copies: Mapping[str, RangeCopies] | None = None,
    ) -> None:
        self.admission = admission or Admission(repo, Limits())
        self.hooks = hooks or NoHooks()
        self._events = events or NoEvents()
        self._repo = repo
        self._storages = storages
        self._tails = dict(tails or {})
        self._copies = dict(copies or {})
        self._locks = locks
        self._policy = policy
        self._lifetimes = lifetimes
        self._clock = clock
        self._tree = Tree(repo)
        # Sessions' unchanging fields for the plans before the locks (_planning_view).
        self._planning: OrderedDict[tuple[Tenant, str], UploadSession] = OrderedDict()

    def storages(self) -> Mapping[str, Storage]:
        return self._storages

    def storage(self, service_id: str) -> Storage:
        try:
            return self._storages[service_id]
        except KeyError:
            known = ", ".join(sorted(self._storages))
            raise InvalidInput(
                f"unknown service id {service_id!r}; this server offers: {known}"
            ) from None

    def takes_appends(self, service_id: str) -> bool:
        """Whether uploads of this service can be appended to at any offset (tus, the IETF
        draft): a store that writes in place, or one that keeps short tails beside its parts."""
        storage = self.storage(service_id)
        return storage.capabilities.writes_in_place or service_id in self._tails

    async def create(
        self,
        tenant: Tenant,
        service_id: str,
        req: NewSession,
        part_size: int | None = None,
        part_size_hint: int | None = None,
        idempotency_key: str | None = None,
        direct: bool = False,
    ) -> UploadSession:
        """A new session; `part_size` forces one (internal use), `part_size_hint` suggests one;
        `direct` makes its parts go straight into the store (domain/direct_uploads.py).

        With an idempotency key, a repeated create returns the session the first one made.
        """
        req = replace(req, name=check_name(req.name))
        # Asked before the idempotency check: a retried create, changed by the hook the same
        # way, then matches the session the first one made.
        ask = CreateAsk(
            tenant, service_id, req.name, req.parent_folder_id, req.drive_id, req.size,
            dict(req.client_metadata),
        )  # fmt: skip
        changes = await self.hooks.pre_create(ask)
        req = changed_request(req, changes)
        if idempotency_key is not None:
            earlier = await self._same_create(tenant, req, idempotency_key)
            if earlier is not None:
                return earlier
        storage = self.storage(service_id)
        self.admission.check_declared_size(req.size)
        drive_id = await self._tree.drive_id(tenant, req.drive_id)
        await self._tree.folder(tenant, drive_id, req.parent_folder_id)
        await self._check_name_free(tenant, drive_id, req.parent_folder_id, req.name)
        if part_size_hint is not None and part_size_hint < 1:
            raise InvalidInput("the part size hint must be a positive number of bytes")
        if part_size is None:
            part_size = part_size_for(req.size, self._policy, storage.capabilities, part_size_hint)
            part_size = hooked_part_size(
                part_size, changes.part_size, req.size, storage.capabilities, self._policy.max_parts
            )
        now = self._clock()
        key = new_id("obj")
        handle = await storage.begin(key)
        session = UploadSession(
            id=new_id("ses"),
            tenant=tenant,
            service_id=service_id,
            drive_id=drive_id,
            folder_id=req.parent_folder_id,
            name=req.name,
            size=req.size,
            part_size=part_size,
            state=SessionState.OPEN,
            storage_key=key,
            storage_handle=handle,
            created_at=now,
            updated_at=now,
            expires_at=now + self._lifetimes.session_ttl,
            idempotency_key=idempotency_key,
            mime_type=req.mime_type,
            client_metadata=req.client_metadata,
            direct=direct,
        )
        created = SessionCreated(session.id, tenant, service_id, session.size, now)
        try:
            refused = await self._repo.insert_session(
                session, self.admission.limits.open_limits, (created,)
            )
            if refused is not None:
                raise self.admission.refusal(refused, session.size or 0)
        except BaseException:
            await storage.discard(key, handle)
            if idempotency_key is not None:
                # A concurrent twin of this create may have won the race.
                earlier = await self._same_create(tenant, req, idempotency_key)
                if earlier is not None:
                    return earlier
            raise
        await self._events.publish(created)
        return session

    async def _check_name_free(
        self, tenant: Tenant, drive_id: str, folder_id: str, name: str
    ) -> None:
        if not await self._repo.name_taken(tenant, drive_id, folder_id, name):
            return
        # An expired upload the reaper has not reached yet must not block the name.
        holder = await self._repo.active_session_named(tenant, drive_id, folder_id, name)
        if holder is not None and holder.is_expired(self._clock()):
            await self.expire(holder)  # whoever wins the claim, the name is free afterwards
            if not await self._repo.name_taken(tenant, drive_id, folder_id, name):
                return
        raise_name_taken(name)

    async def expire(self, session: UploadSession) -> bool:
        """Reap one expired session: bytes gone, a tombstone row left. True if this call did it."""
        now = self._clock()
        expired = SessionExpired(session.id, session.tenant, session.uploaded_bytes(), now)
        async with self._locks.session_exclusive(session.id):
            if not await self._repo.mark_expired(session.id, now, (expired,)):
                return False
            await self.storage(session.service_id).discard(
                session.storage_key, session.storage_handle
            )
        await self._locks.forget(session.id)
        await self._events.publish(expired)
        return True

    async def _same_create(self, tenant: Tenant, req: NewSession, key: str) -> UploadSession | None:
        earlier = await self._repo.session_by_idempotency_key(tenant, key)
        if earlier is None:
            return None
        if (earlier.name, earlier.folder_id, earlier.size) != (
            req.name,
            req.parent_folder_id,
            req.size,
        ):
            raise InvalidInput(
                "this Idempotency-Key was used for a different upload session; use a new key"
            )
        return earlier

    async def get(
        self,
        tenant: Tenant,
        session_id: str,
        with_ranges: bool = True,
        only_range: int | None = None,
    ) -> UploadSession:
        session = await self._repo.get_session(tenant, session_id, with_ranges, only_range)
        if session is None:
            raise NotFound(f"upload session {session_id!r} not found")
        expired = session.is_expired(self._clock())
        if session.state is SessionState.EXPIRED or (
            expired and session.state is not SessionState.FINISHED
        ):
            raise NotFound(f"upload session {session_id!r} has expired")
        if expired:  # a finished session past its retention
            raise NotFound(f"upload session {session_id!r} not found")
        return session

    async def record_size(self, session: UploadSession, size: int) -> bool:
        """Give an open session of unknown size its size (see appends.declare_length, which
        decides whether it may); False if a concurrent request gave it one first."""
        return await self._repo.declare_size(session.id, size, self._clock())

    async def list_open(
        self, tenant: Tenant, cursor: str | None = None, limit: int = DEFAULT_PAGE
    ) -> Page[SessionSummary]:
        """One page of the tenant's unfinished sessions, oldest first; the next page starts
        after the last one listed, so sessions closed meanwhile make none skipped."""
        check_limit(limit)
        after = cursor_after(cursor)
        rows = await self._repo.list_sessions(tenant, self._clock(), after, limit + 1)
        listed = rows[:limit]
        next_cursor = None
        if len(rows) > limit:
            last = listed[-1].session
            next_cursor = after_cursor(After(last.created_at, last.id))
        return Page(listed, cursor, next_cursor)

    async def _open(
        self,
        tenant: Tenant,
        session_id: str,
        with_ranges: bool = True,
        only_range: int | None = None,
    ) -> UploadSession:
        session = await self.get(tenant, session_id, with_ranges, only_range)
        if session.state is not SessionState.OPEN:
            raise InvalidState(f"upload session {session_id!r} is {session.state.value}")
        return session

    async def _planning_view(
        self, tenant: Tenant, session_id: str, rule: RangeRule
    ) -> UploadSession:
        """The session as a range's first plan (before its locks) sees it. Where that plan
        needs no ranges and the session has a size, it reads only what never changes (part
        size, size, store): kept from an earlier range of the session, so a part reads the
        session once, under its locks, where the read decides (state, ranges, tenant)."""
        if rule.ranges_before_locks:
            return await self._open(tenant, session_id)
        key = (tenant, session_id)
        known = self._planning.get(key)
        if known is not None:
            self._planning.move_to_end(key)
            return known
        session = await self._open(tenant, session_id, with_ranges=False)
        if session.size is not None:
            self._planning[key] = session
            if len(self._planning) > PLANNING_VIEWS:
                self._planning.popitem(last=False)
        return session

    @property
    def policy(self) -> PartPolicy:
        return self._policy

    async def write_range(
        self,
        tenant: Tenant,
        session_id: str,
        rule: RangeRule,
        source: Source,
        content_length: int | None,
        digest: Digest | None,
        still_wanted: Callable[[], Awaitable[bool]] | None = None,
    ) -> UploadSession:
        """Write one range where `rule` places it and return its session (as it was before the
        range was recorded). A range sent again at the same start replaces the first.

        `still_wanted` is asked before the range is recorded: a client that hung up will send
        it again, so recording it would only count it twice.
        """
        try:
            return await self._write_range(
                tenant, session_id, rule, source, content_length, digest, still_wanted
            )
        except BodyCut:
            raise  # the body stopped: counted as cut (by the front), not as a refused range
        except DomainError as exc:
            reason = rejection_reason(exc)
            await self._events.publish(RangeRejected(session_id, rule.ordinal, reason))
            raise

    async def _write_range(
        self,
        tenant: Tenant,
        session_id: str,
        rule: RangeRule,
        source: Source,
        content_length: int | None,
        digest: Digest | None,
        still_wanted: Callable[[], Awaitable[bool]] | None,
    ) -> UploadSession:
        """The hot path reads no range list unless the rule needs it."""
        session = await self._planning_view(tenant, session_id, rule)
        storage = self.storage(session.service_id)
        if isinstance(rule, AppendRule) and not storage.capabilities.writes_in_place:
            grid = (tenant, session, storage, rule, source, content_length, digest)
            return await self._append_on_grid(*grid)
        plan = rule.plan(session, content_length, storage.capabilities)
        async with self._locks.part(session_id, plan.start):
            # Re-read under the lock: finish or abort may have run while we waited.
            session = await self._open(tenant, session_id, rule.needs_ranges(session), plan.start)
            wanted = plan.limit if plan.length is None else plan.length
            await self.admission.check_range(session, plan.start, wanted, rule.label)
            plan = rule.plan(session, content_length, storage.capabilities)
            written = await self._write(session, storage, rule, plan, source, digest)
            if still_wanted is not None and not await still_wanted():
                raise InvalidState(f"the client went away before {rule.label} was recorded")
            now = self._clock()
            recorded = await self._repo.record_range(
                session.id, written, now, now + self._lifetimes.session_ttl
            )
            if not recorded:
                raise InvalidState(f"upload session {session_id!r} was finished or aborted")
        recorded_event = RangeRecorded(session_id, plan.start, written.size, rule.ordinal)
        await self._events.publish(recorded_event)
        return session

    async def _append_on_grid(
        self,
        tenant: Tenant,
        session: UploadSession,
        storage: Storage,
        rule: AppendRule,
        source: Source,
        content_length: int | None,
        digest: Digest | None,
    ) -> UploadSession:
        """An append on a store of whole parts (grid_appends.py). Every append of the session
        takes one lock, not the lock of its start: the parts it records move the offset while it
        runs, and a second append at that new offset must wait rather than write the same cells.
        """
        tails = self._tails.get(session.service_id)
        if tails is None:
            raise OperationUnsupported(
                "appends at any offset need a store that writes in place or keeps tails (S3)"
            )
        async with self._locks.part(session.id, APPEND_LOCK):
            session = await self._open(tenant, session.id)
            plan = rule.plan(session, content_length, storage.capabilities)
            wanted = plan.limit if plan.length is None else plan.length
            await self.admission.check_range(session, plan.start, wanted, rule.label)
            end = rule.upload_end(session)
            append = GridAppend(plan.start, plan.length, plan.limit, end)

            async def record(piece: ByteRange) -> None:
                now = self._clock()
                expires = now + self._lifetimes.session_ttl
                if not await self._repo.record_range(session.id, piece, now, expires):
                    raise InvalidState(f"upload session {session.id!r} was finished or aborted")

            received = await append_on_grid(session, storage, tails, append, source, digest, record)
        recorded = RangeRecorded(session.id, plan.start, received, rule.ordinal)
        await self._events.publish(recorded)
        return session

    def copies_ranges(self, service_id: str) -> bool:
        """Whether the store copies a range of one object into a part of another itself."""
        return service_id in self._copies

    async def copy_range(
        self, tenant: Tenant, session_id: str, start: int, source_key: str, first: int, size: int
    ) -> None:
        """Bytes first..first+size-1 of the completed object `source_key` (same service) become
        the session's range at `start`, copied by the store: no byte passes through partway."""
        session = await self._open(tenant, session_id, with_ranges=False)
        copies = self._copies.get(session.service_id)
        if copies is None:
            raise OperationUnsupported("this store copies no ranges into parts")
        async with self._locks.part(session_id, start):
            session = await self._open(tenant, session_id, with_ranges=False)
            await self.admission.check_range(session, start, size, f"the range at {start}")
            written = await copies.copy_range(session.placement, start, source_key, first, size)
            now = self._clock()
            copied = ByteRange(start, written.size, tag=written.tag)
            expires = now + self._lifetimes.session_ttl
            if not await self._repo.record_range(session.id, copied, now, expires):
                raise InvalidState(f"upload session {session_id!r} was finished or aborted")
        await self._events.publish(RangeRecorded(session_id, start, written.size, None))

    async def _write(
        self,
        session: UploadSession,
        storage: Storage,
        rule: RangeRule,
        plan: RangePlan,
        source: Source,
        digest: Digest | None,
    ) -> ByteRange:
        # The old bytes are about to be overwritten: the old record must not outlive them.
        if any(r.start == plan.start for r in session.ranges):
            await self._repo.forget_range(session.id, plan.start)
        # A CRC32C rides along any part digest (25 GB/s: nearly free beside SHA-1) so that
        # finish can combine the file's CRC32C from the parts' without reading the file.
        hasher = MultiHasher(sorted({*digest.algorithms, "crc32c"})) if digest else None

        def accept(received: int) -> None:
            rule.accept(session, received)
            if hasher is not None and digest is not None:
                hasher.verify(digest, rule.label)

        written = await storage.write_range(
            session.placement,
            plan.start,
            source,
            plan.length,
            plan.limit,
            None if hasher is None else hasher.update,
            accept,
        )
        sums = hasher.hexdigests() if hasher else {}
        return ByteRange(
            plan.start,
            written.size,
            sums.get("sha1"),
            sums.get("sha256"),
            written.tag,
            sums.get("crc32c"),
        )

    async def finish(
        self,
        tenant: Tenant,
        session_id: str,
        digest: Digest | None,
        read: UploadSession | None = None,
    ) -> Entry:
        """`read`: the session as the caller just read it (without ranges), not read again."""
        # Ranges (up to 10,000) are read once, under the lock, where they are final.
        session = read or await self.get(tenant, session_id, with_ranges=False)
        if session.state is SessionState.FINISHED:
            return await self._finished_file(tenant, session)
        # Asked before the lock, so a slow hook holds nothing; a refusal leaves it open.
        ask = FinishAsk(tenant, session.id, session.name, session.folder_id, session.size)
        await self.hooks.pre_finish(ask)
        async with self._locks.session_exclusive(session_id):
            session = await self.get(tenant, session_id)
            if session.state is SessionState.FINISHED:
                return await self._finished_file(tenant, session)
            # Holding the exclusive lock, a FINISHING state can only be left by a crashed finish.
            now = self._clock()
            if not await self._repo.set_state(
                session.id, session.state, SessionState.FINISHING, now
            ):
                raise InvalidState(f"upload session {session_id!r} changed state; try again")
            try:
                entry = await self._complete(session, digest)
            except BaseException:
                await self._repo.set_state(
                    session.id, SessionState.FINISHING, SessionState.OPEN, self._clock()
                )
                raise
        await self._locks.forget(session_id)
        self._planning.pop((tenant, session_id), None)
        finished = SessionFinished(session_id, tenant, entry.id, entry.size, entry.created_at)
        await self._events.publish(finished)
        return entry

    async def _complete(self, session: UploadSession, digest: Digest | None) -> Entry:
        check_complete(session)
        storage = self.storage(session.service_id)
        size = total_size(session)
        ranges = sorted(session.ranges, key=lambda r: r.start)
        # Stores such as S3 can only read an object once it is complete, so check it after.
        crc = combined_crc32c(ranges)
        try:
            # A store that keeps its own CRC32C compares it with `crc` (StoredChecksumMismatch)
            # and gives it: the file's where no part came with a digest.
            stored_crc = await storage.complete(session.placement, ranges, size)
            crc = crc if crc is not None else stored_crc
            if digest is not None:
                await verify_whole(storage, session.storage_key, size, digest, crc)
        except DigestMismatch:
            # Nothing is lost: the session takes parts again, to be replaced or re-finished.
            handle, kept = await storage.reopen(session.placement, ranges)
            await self._repo.restage(session.id, handle, kept)
            raise
        now = self._clock()
        entry = file_entry(session, size, now, digest, crc)
        finished = SessionFinished(session.id, session.tenant, entry.id, entry.size, now)
        retained = now + self._lifetimes.finished_retention
        await self._repo.complete_session(session.id, entry, retained, (finished,))
        return entry

    async def _finished_file(self, tenant: Tenant, session: UploadSession) -> Entry:
        entry = await self._repo.get_entry(tenant, session.file_id or "")
        if entry is None:
            raise NotFound(f"the file of upload session {session.id!r} was deleted")
        return entry

    async def abort(self, tenant: Tenant, session_id: str) -> None:
        await self.get(tenant, session_id, with_ranges=False)
        async with self._locks.session_exclusive(session_id):
            session = await self.get(tenant, session_id, with_ranges=False)
            if session.state is SessionState.FINISHED:
                raise InvalidState(
                    f"upload session {session_id!r} is finished; delete the file instead"
                )
            # Row first, then bytes: a crash in between leaves orphan bytes, never a dangling row.
            aborted = SessionAborted(session.id, tenant, self._clock())
            await self._repo.delete_session(session.id, (aborted,))
            await self.storage(session.service_id).discard(
                session.storage_key, session.storage_handle
            )
        await self._locks.forget(session_id)
        self._planning.pop((tenant, session_id), None)
        await self._events.publish(aborted)


def raise_name_taken(name: str) -> None:
    raise NameTaken(f"the folder already has an entry or an upload in progress named {name!r}")
