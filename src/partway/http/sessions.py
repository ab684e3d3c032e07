"""Routes of /file-storage/upload-sessions."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..domain.digests import OFFERED, Digest, parse_digest
from ..domain.errors import InvalidInput
from ..domain.models import NewSession, Tenant, UploadSession
from ..domain.rules import PartRule
from ..domain.uploads import UploadService
from ..wire import (
    DIGEST,
    IDEMPOTENCY_KEY,
    PART_SIZE_HINT,
    SESSIONS_PATH,
    UPLOAD_MODE,
    UPLOAD_MODES,
    WANT_DIGEST,
    want_digest,
)
from . import params
from .bodies import CreateUploadSession, FinishUploadSession
from .context import caller
from .direct import ticket_json
from .render import entry_json, envelope, page_envelope, session_json, summary_json
from .socket_body import socket_body

RESOURCE = "UploadSessions"


async def create(request: Request) -> Response:
    who = await caller(request)
    body = await params.json_body(request, CreateUploadSession)
    req = NewSession(body.name, body.parent_folder_id, body.size, body.drive_id)
    hint = request.headers.get(PART_SIZE_HINT)
    part_size_hint = None
    if hint is not None:
        problem = f"{PART_SIZE_HINT} must be a whole number of bytes"
        part_size_hint = params.whole_number(hint, problem)
    idempotency_key = request.headers.get(IDEMPOTENCY_KEY)
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= 255:
        raise InvalidInput(f"{IDEMPOTENCY_KEY} must be 1 to 255 characters")
    mode = upload_mode(request)
    direct = who.services.catalog.direct.mode_for(who.service_id, mode, body.size is not None)
    session = await who.services.uploads.create(
        who.tenant,
        who.service_id,
        req,
        part_size_hint=part_size_hint,
        idempotency_key=idempotency_key,
        direct=direct,
    )
    res = envelope(request, 201, session.service_id, RESOURCE, "add", {"id": session.id})
    res.headers[WANT_DIGEST] = want_digest(OFFERED)
    return res


def upload_mode(request: Request) -> str | None:
    """The create's choice of where parts go (wire.UPLOAD_MODES), or None."""
    mode = request.headers.get(UPLOAD_MODE)
    if mode is None:
        return None
    if mode.strip().lower() not in UPLOAD_MODES:
        raise InvalidInput(f"{UPLOAD_MODE} must be one of: {', '.join(UPLOAD_MODES)}")
    return mode.strip().lower()


async def capabilities(request: Request) -> Response:
    """partway extension: OPTIONS on the sessions says, before any session exists and without
    credentials, which digests parts and finish may carry (RFC 3230 Want-Digest, fastest
    first), so a client picks its algorithm up front."""
    headers = {"allow": "GET, POST, OPTIONS", WANT_DIGEST: want_digest(OFFERED)}
    return JSONResponse({"digest_algorithms": list(OFFERED)}, headers=headers)


async def list_open(request: Request) -> Response:
    """partway extension: the caller's unfinished sessions, a page at a time, for clients that
    resume them."""
    who = await caller(request)
    cursor = request.query_params.get("cursor")
    page = await who.services.uploads.list_open(who.tenant, cursor, params.page_limit(request))
    data = [summary_json(s) for s in page.items]
    return page_envelope(request, who.service_id, RESOURCE, page, data)


async def get(request: Request) -> Response:
    who = await caller(request)
    session = await who.services.uploads.get(who.tenant, request.path_params["id"])
    data = session_json(session)
    # partway extension: a direct session's GET carries the signed URL of each part it lacks.
    tickets = await who.services.catalog.direct.session_tickets(session)
    if tickets is not None:
        data["direct_parts"] = [ticket_json(request, n, ticket) for n, ticket in tickets]
    res = envelope(request, 200, session.service_id, RESOURCE, "one", data)
    res.headers[WANT_DIGEST] = want_digest(OFFERED)
    return res


async def upload(request: Request) -> Response:
    who = await caller(request)
    number = params.part_number(request)
    digest = parse_digest(request.headers.get(DIGEST))
    uploads = who.services.uploads
    session = await write_part(
        request, uploads, who.tenant, request.path_params["id"], number, digest
    )
    return envelope(request, 200, session.service_id, RESOURCE, "upload", {"id": session.id})


async def write_part(
    request: Request,
    uploads: UploadService,
    tenant: Tenant,
    session_id: str,
    number: int,
    digest: Digest | None,
) -> UploadSession:
    """Part `number`'s bytes from the request body, read from the socket where the fast path
    offers it; the caller has established `tenant`."""
    length = params.content_length(request)
    direct = socket_body(request.scope)

    async def still_connected() -> bool:
        if direct is None:
            return not await request.is_disconnected()
        direct.settle()
        return not direct.client_gone

    # A body cut off (BodyTimeout, ClientDisconnect) is answered by the app's handlers.
    try:
        return await uploads.write_range(
            tenant,
            session_id,
            PartRule(number, uploads.policy),
            direct or params.body_stream(request),
            length,
            digest,
            still_connected,
        )
    finally:
        if direct is not None:
            direct.settle()


async def finish(request: Request) -> Response:
    who = await caller(request)
    if params.content_length(request) or request.headers.get("transfer-encoding"):
        await params.json_body(request, FinishUploadSession)
    digest = parse_digest(request.headers.get(DIGEST))
    finishing = who.services.catalog.direct.finish  # a direct session's parts are adopted first
    entry = await finishing(who.tenant, request.path_params["id"], digest)
    folders = await who.services.files.tree.ancestors(who.tenant, entry)
    service = entry.service_id or who.service_id
    return envelope(request, 201, service, "Files", "finish", entry_json(entry, folders))


async def abort(request: Request) -> Response:
    who = await caller(request)
    session_id = request.path_params["id"]
    await who.services.uploads.abort(who.tenant, session_id)
    return envelope(request, 200, who.service_id, RESOURCE, "delete", {"id": session_id})


routes = [
    Route(SESSIONS_PATH, create, methods=["POST"]),
    Route(SESSIONS_PATH, list_open, methods=["GET"]),
    Route(SESSIONS_PATH, capabilities, methods=["OPTIONS"]),
    Route(SESSIONS_PATH + "/{id}", get, methods=["GET"]),
    Route(SESSIONS_PATH + "/{id}", upload, methods=["PUT"]),
    Route(SESSIONS_PATH + "/{id}", abort, methods=["DELETE"]),
    Route(SESSIONS_PATH + "/{id}/finish", finish, methods=["POST"]),
]
