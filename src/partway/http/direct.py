"""partway extension: parts PUT by the client straight into the object store, for sessions
created in direct mode (`x-partway-upload-mode: direct`, or the service's default).

GET  …/upload-sessions/{id}/direct         a signed URL, headers and expiry per part still needed
POST …/upload-sessions/{id}/direct         signed URLs for the parts named, each bound to the
                                           checksums its client gives (`md5`, `crc32c`, base64)
POST …/upload-sessions/{id}/direct/finish  the same as finish (which checks the store's parts)
Without a body the bytes never pass through partway. A session that takes its parts through
partway answers 400 ConnectorOperationUnsupportedError to the first two."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..domain.digests import parse_digest
from ..domain.direct import PartClaim, RangeTicket
from ..domain.errors import InvalidInput
from ..wire import DIGEST, SESSIONS_PATH
from . import params
from .bodies import DirectPartsRequest, PartChecksums
from .context import caller
from .render import entry_json, envelope

RESOURCE = "UploadSessions"


def ticket_json(request: Request, number: int, ticket: RangeTicket) -> dict[str, Any]:
    # A URL partway serves itself is relative to the address the client reached it at.
    url = ticket.url
    if url.startswith("/"):
        url = str(request.base_url).rstrip("/") + url
    return {
        "part_number": number,
        "offset": ticket.start,
        "size": ticket.size,
        "method": "PUT",
        "url": url,
        "headers": ticket.headers,
        "expires_at": ticket.expires.isoformat(),
    }


def _hex_of(value: str | None, size: int, name: str, number: int) -> str | None:
    """A base64 checksum (as HTTP digests carry them) as hex, or a 400 naming it."""
    if value is None:
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != size:
        raise InvalidInput(f"part {number}: {name} must be the base64 of {size} bytes")
    return raw.hex()


def _claim(part: PartChecksums) -> tuple[int, PartClaim]:
    md5 = _hex_of(part.md5, 16, "md5", part.part_number)
    crc32c = _hex_of(part.crc32c, 4, "crc32c", part.part_number)
    return part.part_number, PartClaim(0, md5, crc32c)


async def tickets(request: Request) -> Response:
    who = await caller(request)
    session_id = request.path_params["id"]
    found = await who.services.catalog.direct.tickets(who.tenant, session_id)
    data = {"id": session_id, "parts": [ticket_json(request, n, t) for n, t in found]}
    return envelope(request, 200, who.service_id, RESOURCE, "one", data)


async def claimed_tickets(request: Request) -> Response:
    who = await caller(request)
    session_id = request.path_params["id"]
    body = await params.json_body(request, DirectPartsRequest)
    claims = [_claim(part) for part in body.parts]
    found = await who.services.catalog.direct.claimed_tickets(who.tenant, session_id, claims)
    data = {"id": session_id, "parts": [ticket_json(request, n, t) for n, t in found]}
    return envelope(request, 200, who.service_id, RESOURCE, "one", data)


async def finish(request: Request) -> Response:
    who = await caller(request)
    session_id = request.path_params["id"]
    digest = parse_digest(request.headers.get(DIGEST))
    entry = await who.services.catalog.direct.finish(who.tenant, session_id, digest)
    folders = await who.services.files.tree.ancestors(who.tenant, entry)
    service = entry.service_id or who.service_id
    return envelope(request, 201, service, "Files", "finish", entry_json(entry, folders))


routes = [
    Route(SESSIONS_PATH + "/{id}/direct", tickets, methods=["GET"]),
    Route(SESSIONS_PATH + "/{id}/direct", claimed_tickets, methods=["POST"]),
    Route(SESSIONS_PATH + "/{id}/direct/finish", finish, methods=["POST"]),
]
