"""S3 multipart uploads as Uppy's S3 plugin (`@uppy/aws-s3`, Companion mode) drives them, over
partway's direct sessions: the client PUTs each part into the store over a presigned URL, and
the finished upload is a file in a folder like any other.

The plugin chooses its part size itself and tells nobody (S3 only asks that every part but the
last be at least its minimum), and it never sends the file's size. So a session starts with no
size, each part URL is signed without a length, and at complete the store's own list of parts
(ListParts) decides the layout: the parts must be numbered 1…n, all of one size but the last,
within the store's limits, and hold exactly what the client lists (ETags). The session then
takes that size and part size and is finished as a direct session is (domain/direct_uploads.py),
which checks the parts against the store once more under the session's lock.

The plugin's `uploadId` is the session id and its `key` the same id: both opaque, neither the
store's multipart upload id nor its object key."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

from .direct import BadRanges, etag_md5
from .direct_uploads import TICKET_TTL, DirectUploads
from .errors import InvalidInput, InvalidState, NotFound, OperationUnsupported
from .models import Entry, NewSession, Placement, SessionState, Tenant, UploadSession
from .policy import StorageCapabilities
from .uploads import UploadService


@dataclass(frozen=True)
class SignedPart:
    """Where the client PUTs part `number` (any size the store takes), until `expires`."""

    url: str
    expires: datetime


@dataclass(frozen=True)
class StoredPart:
    """A part as the store lists it: S3's number (from 1), its size and its ETag."""

    number: int
    size: int
    etag: str


class PartSigner(Protocol):
    """A store whose parts a client PUTs itself and whose receipts are ETags (S3)."""

    async def sign_part(self, at: Placement, number: int, ttl: timedelta) -> SignedPart: ...

    async def stored_parts(self, at: Placement) -> list[StoredPart]: ...


class LayoutRepository(Protocol):
    async def set_layout(self, session_id: str, size: int, part_size: int) -> bool:
        """Give an open session with no recorded range its size and part size; False if it is
        not open or partway already recorded a range of it."""


def same_etag(a: str, b: str) -> bool:
    """ETags compared as S3 does: quotes aside, and MD5s in any case."""
    left, right = a.strip().strip('"'), b.strip().strip('"')
    return left == right or (etag_md5(left) is not None and etag_md5(left) == etag_md5(right))


def listing_problems(listed: Sequence[tuple[int, str]], stored: Sequence[StoredPart]) -> list[str]:
    """How the client's list of (part number, ETag) differs from the store's parts."""
    held = {p.number: p for p in stored}
    problems = []
    for number, etag in listed:
        got = held.pop(number, None)
        if got is None:
            problems.append(f"part {number}: not in the store")
        elif not same_etag(got.etag, etag):
            problems.append(f"part {number}: the store holds ETag {got.etag}, not {etag}")
    problems += [f"part {number}: in the store but not listed" for number in sorted(held)]
    return problems


def layout_of(stored: Sequence[StoredPart], caps: StorageCapabilities) -> tuple[int, int]:
    """(size, part size) of parts numbered 1…n, all of one size but a shorter last one, each
    within the store's limits; else BadRanges naming every part that breaks the rule."""
    parts = sorted(stored, key=lambda p: p.number)
    if not parts:
        raise InvalidInput("the upload has no parts: send at least one before completing")
    grid = parts[0].size
    problems = [
        f"part {p.number}: expected part {i}" for i, p in enumerate(parts, 1) if p.number != i
    ]
    for p in parts[:-1]:
        if p.size != grid:
            problems.append(f"part {p.number}: {p.size} bytes, the parts before it {grid}")
    if len(parts) > 1 and grid < caps.min_part_size:
        problems.append(f"parts of {grid} bytes: the store's minimum is {caps.min_part_size}")
    if grid > caps.max_part_size:
        problems.append(f"parts of {grid} bytes: the store's maximum is {caps.max_part_size}")
    if parts[-1].size > grid or parts[-1].size == 0:
        problems.append(f"part {parts[-1].number}: {parts[-1].size} bytes as the last part")
    if problems:
        raise BadRanges(problems)
    return sum(p.size for p in parts), grid


class CompanionUploads:
    def __init__(
        self,
        uploads: UploadService,
        direct: DirectUploads,
        signers: Mapping[str, PartSigner],
        layouts: LayoutRepository,
        ttl: timedelta = TICKET_TTL,
    ) -> None:
        self._uploads = uploads
        self._direct = direct
        self._signers = signers
        self._layouts = layouts
        self._ttl = ttl

    async def create(
        self, tenant: Tenant, service_id: str, name: str, folder_id: str, drive_id: str | None
    ) -> UploadSession:
        """A direct session of unknown size, whose store's multipart upload the parts join."""
        if service_id not in self._signers:
            raise OperationUnsupported(
                f"service {service_id!r} stores on a backend with no presigned S3 part URLs: "
                "upload through the Apideck upload sessions or tus instead"
            )
        req = NewSession(name=name, parent_folder_id=folder_id, size=None, drive_id=drive_id)
        return await self._uploads.create(tenant, service_id, req, direct=True)

    async def _open(self, tenant: Tenant, session_id: str) -> tuple[UploadSession, PartSigner]:
        session = await self._uploads.get(tenant, session_id, with_ranges=False)
        signer = self._signers.get(session.service_id)
        if not session.direct or signer is None:
            raise NotFound(f"no S3 multipart upload {session_id!r}")
        if session.state is not SessionState.OPEN:
            raise InvalidState(f"upload {session_id!r} is {session.state.value}")
        return session, signer

    async def sign(self, tenant: Tenant, session_id: str, number: int) -> SignedPart:
        session, signer = await self._open(tenant, session_id)
        max_parts = self._uploads.storage(session.service_id).capabilities.max_parts
        if not 1 <= number <= max_parts:
            raise InvalidInput(f"part numbers run from 1 to {max_parts}, not {number}")
        return await signer.sign_part(session.placement, number, self._ttl)

    async def parts(self, tenant: Tenant, session_id: str) -> list[StoredPart]:
        session, signer = await self._open(tenant, session_id)
        return sorted(await signer.stored_parts(session.placement), key=lambda p: p.number)

    async def complete(
        self, tenant: Tenant, session_id: str, listed: Sequence[tuple[int, str]]
    ) -> Entry:
        """The file, once the store's parts are exactly those listed and laid out as S3 takes
        them; a finished session answers its file again (a retried complete)."""
        session = await self._uploads.get(tenant, session_id, with_ranges=False)
        if session.state is SessionState.FINISHED and session.direct:
            return await self._uploads.finish(tenant, session_id, None)
        session, signer = await self._open(tenant, session_id)
        stored = await signer.stored_parts(session.placement)
        if problems := listing_problems(listed, stored):
            raise BadRanges(problems)
        caps = self._uploads.storage(session.service_id).capabilities
        size, part_size = layout_of(stored, caps)
        admission = self._uploads.admission
        admission.check_declared_size(size)
        # The size was never reserved, so it is checked against the quota as one range of a
        # session of unknown size is (adopting the parts of a sized session checks none).
        await admission.check_range(replace(session, size=None, ranges=()), 0, size, "the upload")
        if not await self._layouts.set_layout(session.id, size, part_size):
            raise InvalidState(
                f"upload {session_id!r} has parts partway received itself or is no longer "
                "open: finish it through the Apideck upload sessions"
            )
        return await self._direct.finish(tenant, session_id, None)

    async def abort(self, tenant: Tenant, session_id: str) -> None:
        await self._open(tenant, session_id)
        await self._uploads.abort(tenant, session_id)
