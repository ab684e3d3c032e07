"""Turning a session's ranges into a file: what must be there, the file's entry, and the check
of the assembled bytes against the client's whole-file digest."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime

from .crc import CRC32C
from .digests import Digest, MultiHasher, check
from .errors import InvalidState
from .models import ByteRange, Entry, EntryKind, UploadSession, new_id
from .policy import missing_parts
from .ports import Storage


def check_complete(session: UploadSession) -> None:
    """Every part of the session is there (at most 20 named in the message, 1,000 listed)."""
    missing = missing_parts(session)
    if not missing:
        return
    shown = ", ".join(str(n) for n in missing[:20])
    more = f" and {len(missing) - 20} more" if len(missing) > 20 else ""
    raise InvalidState(
        f"cannot finish: {len(missing)} part(s) missing: {shown}{more}",
        {"missing_parts": missing[:1000], "missing_count": len(missing)},
    )


def combined_crc32c(ranges: list[ByteRange]) -> int | None:
    """The file's CRC32C from its ranges' (in order, contiguous), or None if one has none."""
    if any(r.crc32c is None for r in ranges):
        return None
    return CRC32C.combine_all((int(r.crc32c or "0", 16), r.size) for r in ranges)


def file_entry(
    session: UploadSession,
    size: int,
    now: datetime,
    digest: Digest | None,
    crc: int | None = None,
) -> Entry:
    """The file a finished session becomes: same place, name and stored object."""
    entry = Entry(
        id=new_id("file"),
        tenant=session.tenant,
        drive_id=session.drive_id,
        parent_id=session.folder_id,
        name=session.name,
        kind=EntryKind.FILE,
        created_at=now,
        updated_at=now,
        size=size,
        service_id=session.service_id,
        storage_key=session.storage_key,
        crc32c=None if crc is None else f"{crc:08x}",
        mime_type=session.mime_type,
    )
    if digest is None:
        return entry
    sums = {name: value.hex() for name, value in digest.expected.items()}
    return replace(
        entry,
        sha1=sums.get("sha1"),
        sha256=sums.get("sha256"),
        crc32c=entry.crc32c or sums.get("crc32c"),
    )


async def verify_whole(
    storage: Storage, key: str, size: int, digest: Digest, crc: int | None = None
) -> None:
    """Check the assembled file against `digest`; raises DigestMismatch. A CRC32C combined from
    the parts (`crc`) is compared without a read; any other algorithm hashes the object off the
    loop."""
    rest: Digest | None = digest
    want = digest.expected.get("crc32c")
    if want is not None and crc is not None:
        check("crc32c", crc.to_bytes(4, "big"), want, "the assembled file")
        rest = digest.without("crc32c")
    if rest is None:
        return
    hasher = MultiHasher(rest.algorithms)
    async for block in storage.read(key, 0, size):
        await asyncio.to_thread(hasher.update, block)
    hasher.verify(rest, "the assembled file")
