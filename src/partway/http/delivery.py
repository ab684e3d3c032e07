"""Sending a file's bytes: Range, HEAD and the headers, for the API download and for the
credential-free shared-link and signed-URL downloads alike."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ..domain.exports import media_type_of
from ..domain.files import FileService
from ..domain.models import Entry, Tenant
from . import params


def media_type(entry: Entry) -> str:
    return media_type_of(entry)


def starts_at_zero(request: Request, ranges: bool = True) -> bool:
    """A GET of the file from its first byte: what counts as one download of it (a player
    fetching later ranges of a video does not count again). With `ranges` off, every GET."""
    if request.method != "GET":
        return False
    wanted = params.byte_range(request) if ranges else None
    return wanted is None or wanted[0] == 0


async def send_file(
    request: Request,
    files: FileService,
    tenant: Tenant,
    entry: Entry,
    attachment: bool = True,
    link_id: str | None = None,
    ranges: bool = True,
) -> Response:
    """`ranges` off: any Range is ignored and the whole file sent (Accept-Ranges: none)."""
    wanted = params.byte_range(request) if ranges else None
    got = await files.download(tenant, entry.id, wanted, link_id)
    size = got.entry.size or 0
    disposition = "attachment" if attachment else "inline"
    headers = {
        "Content-Length": str(got.end - got.start),
        "Accept-Ranges": "bytes" if ranges else "none",
        "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(got.entry.name)}",
        "Cache-Control": "no-store",
        # Uploaded HTML must not run as this server's origin (the browser page keeps its key
        # there): a sandboxed, unsniffed document.
        "Content-Security-Policy": "sandbox",
        "X-Content-Type-Options": "nosniff",
    }
    status = 200
    if wanted is not None:
        status = 206
        headers["Content-Range"] = f"bytes {got.start}-{got.end - 1}/{size}"
    if request.method == "HEAD":
        # The chunks were never iterated: a read that has not started holds nothing open.
        return Response(status_code=status, headers=headers, media_type=media_type(entry))
    return StreamingResponse(
        got.chunks, status_code=status, headers=headers, media_type=media_type(entry)
    )
