"""tus concatenation: partial uploads (sessions that never become files themselves) joined
into one final upload of any piece sizes. The pieces are made readable objects, streamed into
the final session one after another at their offsets, and removed once it is a file. On a store
that copies ranges itself the bytes do not pass through partway: on local disk each piece is
copied to its offset by the kernel (copy_file_range, blocks shared where the filesystem can);
on S3 the final upload's parts are copied from the pieces there, as tusd's s3store assembles
with UploadPartCopy, and only parts across piece boundaries are streamed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
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
    for piece in pieces:
        storage = uploads.storage(piece.service_id)
        # Completing a piece again after a failed concatenation is allowed by the port.
        ranges = sorted(piece.ranges, key=lambda r: r.start)
        await storage.complete(piece.placement, ranges, piece.size or 0)
    same_store = all(p.service_id == service_id for p in pieces)
    if same_store and uploads.copies_ranges(service_id):
        if uploads.storage(service_id).capabilities.writes_in_place:
            await _join_in_place(uploads, tenant, session.id, pieces)
        else:
            await _join_on_grid(uploads, tenant, session, pieces)
    else:
        await _join_streamed(uploads, tenant, session.id, pieces)
    entry = await uploads.finish(tenant, session.id, None)
    for piece in pieces:
        await uploads.abort(tenant, piece.id)
    return session, entry


async def _join_in_place(
    uploads: UploadService, tenant: Tenant, session_id: str, pieces: list[UploadSession]
) -> None:
    """On a store that writes in place and copies ranges (local disk): each piece copied by
    the store to its offset, whatever its size."""
    offset = 0
    for piece in pieces:
        size = piece.size or 0
        if size:
            await uploads.copy_range(tenant, session_id, offset, piece.storage_key, 0, size)
        offset += size


async def _join_streamed(
    uploads: UploadService, tenant: Tenant, session_id: str, pieces: list[UploadSession]
) -> None:
    """Each piece's bytes read back and appended at its offset."""
    offset = 0
    for piece in pieces:
        size = piece.size or 0
        source = uploads.storage(piece.service_id).read(piece.storage_key, 0, size)
        rule = AppendRule(offset, max_append=size)
        await uploads.write_range(tenant, session_id, rule, source, size, None)
        offset += size


def grid_cells(
    sizes: Sequence[int], grid: int
) -> list[tuple[int, int, list[tuple[int, int, int]]]]:
    """The final upload's parts over pieces of these sizes: (start, size, spans), each span
    (piece index, first byte in the piece, byte count). A part with one span the store copies
    itself; one across a piece boundary is streamed through (at most one per boundary)."""
    total = sum(sizes)
    bounds = []  # (piece index, offset of its first byte in the final upload)
    at = 0
    for index, size in enumerate(sizes):
        if size:
            bounds.append((index, at))
        at += size
    cells = []
    for start in range(0, total, grid):
        end = min(total, start + grid)
        spans = []
        for index, first in bounds:
            last = first + sizes[index]
            lo, hi = max(start, first), min(end, last)
            if lo < hi:
                spans.append((index, lo - first, hi - lo))
        cells.append((start, end - start, spans))
    return cells


async def _join_on_grid(
    uploads: UploadService, tenant: Tenant, session: UploadSession, pieces: list[UploadSession]
) -> None:
    """On a store of whole parts with server-side copies (S3's UploadPartCopy): a part of the
    final upload within one piece is copied by the store; only a part that spans a boundary
    between pieces has its bytes read and streamed (in blocks, not held) into the part."""
    storage = uploads.storage(session.service_id)
    sizes = [p.size or 0 for p in pieces]
    for start, size, spans in grid_cells(sizes, session.part_size):
        if len(spans) == 1:
            index, first, count = spans[0]
            key = pieces[index].storage_key
            await uploads.copy_range(tenant, session.id, start, key, first, count)
            continue

        async def joined(spans: list[tuple[int, int, int]] = spans) -> AsyncIterator[bytes]:
            for index, first, count in spans:
                async for block in storage.read(pieces[index].storage_key, first, first + count):
                    yield block

        rule = AppendRule(start, max_append=size)
        await uploads.write_range(tenant, session.id, rule, joined(), size, None)
