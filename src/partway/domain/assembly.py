"""Turning a session's ranges into a file: what must be there, the file's entry, and the check
of the assembled bytes against the client's whole-file digest."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime

from .digests import Digest, MultiHasher
from .errors import InvalidState
from .models import Entry, EntryKind, UploadSession, new_id
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


def file_entry(session: UploadSession, size: int, now: datetime, digest: Digest | None) -> Entry:
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
    )
    if digest is None:
        return entry
    sums = {name: value.hex() for name, value in digest.expected.items()}
    return replace(entry, sha1=sums.get("sha1"), sha256=sums.get("sha256"))


async def verify_whole(storage: Storage, key: str, size: int, digest: Digest) -> None:
    """Hash the completed object off the loop; raises DigestMismatch."""
    hasher = MultiHasher(digest.algorithms)
    async for block in storage.read(key, 0, size):
        await asyncio.to_thread(hasher.update, block)
    hasher.verify(digest, "the assembled file")
