"""partway extension: parts PUT by the client straight into the object store.

GET  …/upload-sessions/{id}/direct         a signed URL, headers and expiry per missing part
POST …/upload-sessions/{id}/direct/finish  check what the store holds, record it, then finish
Without a body the bytes never pass through partway."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..domain.digests import parse_digest
from ..wire import DIGEST, SESSIONS_PATH
from .context import caller
from .render import entry_json, envelope

RESOURCE = "UploadSessions"


async def tickets(request: Request) -> Response:
    who = await caller(request)
    session_id = request.path_params["id"]
    found = await who.services.catalog.direct.tickets(who.tenant, session_id)
    parts = [
        {
            "part_number": number,
            "offset": ticket.start,
            "size": ticket.size,
            "method": "PUT",
            "url": ticket.url,
            "headers": ticket.headers,
            "expires_at": ticket.expires.isoformat(),
        }
        for number, ticket in found
    ]
    data = {"id": session_id, "parts": parts}
    return envelope(request, 200, who.service_id, RESOURCE, "one", data)


async def finish(request: Request) -> Response:
    who = await caller(request)
    session_id = request.path_params["id"]
    digest = parse_digest(request.headers.get(DIGEST))
    await who.services.catalog.direct.adopt(who.tenant, session_id)
    entry = await who.services.uploads.finish(who.tenant, session_id, digest)
    folders = await who.services.files.tree.ancestors(who.tenant, entry)
    service = entry.service_id or who.service_id
    return envelope(request, 201, service, "Files", "finish", entry_json(entry, folders))


routes = [
    Route(SESSIONS_PATH + "/{id}/direct", tickets, methods=["GET"]),
    Route(SESSIONS_PATH + "/{id}/direct/finish", finish, methods=["POST"]),
]
