"""tus concatenation: partial uploads (sessions that never become files themselves) joined
into one final upload of any piece sizes. The pieces are made readable objects, streamed into
the final session one after another at their offsets, and removed once it is a file."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from .appends import AppendRule, contiguous_end
from .errors import InvalidState
from .models import Entry, NewSession, Tenant, UploadSession, new_id
from .uploads import UploadService

# Partial uploads are sessions named so: no client name starts with it (the front refuses it).
PARTIAL_PREFIX = ".tus-partial-"


def partial_name() -> str:
    return PARTIAL_PREFIX + new_id("p")


def is_partial(session: UploadSession) -> bool:
    return session.name.startswith(PARTIAL_PREFIX)


async def ready_pieces(
    uploads: UploadService, tenant: Tenant, piece_ids: Sequence[str]
) -> list[UploadSession]:
    """The partial uploads, each with all its bytes in (else InvalidState)."""
    pieces = []
    for piece_id in piece_ids:
        piece = await uploads.get(tenant, piece_id)
        if not is_partial(piece):
            raise InvalidState(f"upload {piece_id!r} is not a partial upload")
        if piece.size is None or contiguous_end(piece.ranges) != piece.size:
            raise InvalidState(f"partial upload {piece_id!r} is not complete")
        pieces.append(piece)
    return pieces


async def concatenate(
    uploads: UploadService,
    tenant: Tenant,
    service_id: str,
    piece_ids: Sequence[str],
    final: NewSession,
) -> tuple[UploadSession, Entry]:
    """The final upload, finished into its file, of the pieces' bytes in the order given."""
    pieces = await ready_pieces(uploads, tenant, piece_ids)
    total = sum(p.size or 0 for p in pieces)
    final = replace(final, size=total)
    session = await uploads.create(tenant, service_id, final)
    offset = 0
    for piece in pieces:
        storage = uploads.storage(piece.service_id)
        size = piece.size or 0
        # Completing a piece again after a failed concatenation is allowed by the port.
        await storage.complete(piece.placement, sorted(piece.ranges, key=lambda r: r.start), size)
        source = storage.read(piece.storage_key, 0, size)
        rule = AppendRule(offset, max_append=size)
        await uploads.write_range(tenant, session.id, rule, source, size, None)
        offset += size
    entry = await uploads.finish(tenant, session.id, None)
    for piece in pieces:
        await uploads.abort(tenant, piece.id)
    return session, entry
