"""Routes of /file-storage/upload-sessions."""

from __future__ import annotations

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from ..domain.digests import parse_digest
from ..domain.models import NewSession
from ..wire import DIGEST, SESSIONS_PATH
from . import params
from .bodies import CreateUploadSession, FinishUploadSession
from .context import caller
from .render import entry_json, envelope, session_json

RESOURCE = "UploadSessions"


async def create(request: Request) -> Response:
    who = await caller(request)
    body = await params.json_body(request, CreateUploadSession)
    req = NewSession(body.name, body.parent_folder_id, body.size, body.drive_id)
    session = await who.services.uploads.create(who.tenant, who.service_id, req)
    return envelope(request, 201, session.service_id, RESOURCE, "add", {"id": session.id})


async def get(request: Request) -> Response:
    who = await caller(request)
    session = await who.services.uploads.get(who.tenant, request.path_params["id"])
    return envelope(request, 200, session.service_id, RESOURCE, "one", session_json(session))


async def upload(request: Request) -> Response:
    who = await caller(request)
    number = params.part_number(request)
    length = params.content_length(request)
    digest = parse_digest(request.headers.get(DIGEST))
    try:
        session = await who.services.uploads.upload_part(
            who.tenant, request.path_params["id"], number, request.stream(), length, digest
        )
    except ClientDisconnect:
        # Nobody is left to read a reply; the part was not recorded.
        return Response(status_code=400)
    return envelope(request, 200, session.service_id, RESOURCE, "upload", {"id": session.id})


async def finish(request: Request) -> Response:
    who = await caller(request)
    if params.content_length(request) or request.headers.get("transfer-encoding"):
        await params.json_body(request, FinishUploadSession)
    digest = parse_digest(request.headers.get(DIGEST))
    entry = await who.services.uploads.finish(who.tenant, request.path_params["id"], digest)
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
    Route(SESSIONS_PATH + "/{id}", get, methods=["GET"]),
    Route(SESSIONS_PATH + "/{id}", upload, methods=["PUT"]),
    Route(SESSIONS_PATH + "/{id}", abort, methods=["DELETE"]),
    Route(SESSIONS_PATH + "/{id}/finish", finish, methods=["POST"]),
]
