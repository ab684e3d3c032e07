"""Routes of /file-storage/files: list, get, update, delete, download, single-request upload."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from ..domain.digests import parse_digest
from ..domain.errors import InvalidInput
from ..domain.exports import media_type_of
from ..domain.files import Listing
from ..domain.models import EntryKind, EntryPatch, NewSession, Tenant
from ..wire import DIGEST, FILES_PATH, FOLLOW_REDIRECTS, METADATA
from . import params
from .bodies import CreateFile, UpdateEntry
from .context import Caller, caller
from .render import entry_json, envelope, page_envelope

RESOURCE = "Files"


async def rendered(who: Caller, tenant: Tenant, entry: Any) -> dict[str, Any]:
    folders = await who.services.files.tree.ancestors(tenant, entry)
    return entry_json(entry, folders)


async def list_files(request: Request) -> Response:
    who = await caller(request)
    query = request.query_params
    if query.get("filter[shared]") is not None:
        from . import search  # issue #18: listings of shared entries live there

        if search.shared_filter(request):
            return await search.shared_listing(request, who)
    direction = query.get("sort[direction]", "asc")
    if direction not in ("asc", "desc"):
        raise InvalidInput("sort[direction] must be asc or desc")
    listing = Listing(
        folder_id=query.get("filter[folder_id]", "root"),
        drive_id=query.get("filter[drive_id]"),
        sort_by=query.get("sort[by]", "name"),
        descending=direction == "desc",
        cursor=query.get("cursor"),
        limit=params.page_limit(request),
    )
    page = await who.services.files.list_folder(who.tenant, listing)
    data = [await rendered(who, who.tenant, e) for e in page.items]
    return page_envelope(request, who.service_id, RESOURCE, page, data)


async def get_file(request: Request) -> Response:
    who = await caller(request)
    entry = await who.services.files.get(who.tenant, request.path_params["id"], EntryKind.FILE)
    service = entry.service_id or who.service_id
    return envelope(request, 200, service, RESOURCE, "one", await rendered(who, who.tenant, entry))


async def update_file(request: Request) -> Response:
    who = await caller(request)
    body = await params.json_body(request, UpdateEntry)
    patch = EntryPatch(body.name, body.parent_folder_id, body.description)
    entry = await who.services.files.update(
        who.tenant, request.path_params["id"], EntryKind.FILE, patch
    )
    return envelope(
        request, 200, entry.service_id or who.service_id, RESOURCE, "update", {"id": entry.id}
    )


async def delete_file(request: Request) -> Response:
    who = await caller(request)
    file_id = request.path_params["id"]
    await who.services.files.delete_file(who.tenant, file_id)
    return envelope(request, 200, who.service_id, RESOURCE, "delete", {"id": file_id})


async def download(request: Request) -> Response:
    who = await caller(request)
    if request.headers.get(FOLLOW_REDIRECTS, "true").strip().lower() == "false":
        from .signed import signed_url_answer  # issue #18

        return await signed_url_answer(request, who, request.path_params["id"])
    got = await who.services.files.download(
        who.tenant, request.path_params["id"], params.byte_range(request)
    )
    size = got.entry.size or 0
    headers = {
        "Content-Length": str(got.end - got.start),
        "Accept-Ranges": "bytes",
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(got.entry.name)}",
    }
    status = 200
    if request.headers.get("range") and params.byte_range(request) is not None:
        status = 206
        headers["Content-Range"] = f"bytes {got.start}-{got.end - 1}/{size}"
    media = media_type_of(got.entry)
    return StreamingResponse(got.chunks, status_code=status, headers=headers, media_type=media)


async def upload_file(request: Request) -> Response:
    """POST /file-storage/files: raw bytes, metadata in the x-apideck-metadata header."""
    who = await caller(request)
    raw_meta = request.headers.get(METADATA)
    if raw_meta is None:
        raise InvalidInput(f"Missing Header: {METADATA}")
    meta = params.parse_model(CreateFile, raw_meta, f"{METADATA} header")
    length = params.content_length(request)
    if length is None:
        raise InvalidInput("Content-Length is required for a single-request upload")
    who.services.uploads.admission.check_single_request(length)
    req = NewSession(meta.name, meta.parent_folder_id, length, meta.drive_id)
    digest = parse_digest(request.headers.get(DIGEST))
    entry = await who.services.files.upload_small(
        who.tenant, who.service_id, req, params.body_stream(request), length, digest
    )
    if meta.description:
        entry = await who.services.files.update(
            who.tenant, entry.id, EntryKind.FILE, EntryPatch(description=meta.description)
        )
    return envelope(request, 201, who.service_id, RESOURCE, "add", {"id": entry.id})


routes = [
    Route(FILES_PATH, list_files, methods=["GET"]),
    Route(FILES_PATH, upload_file, methods=["POST"]),
    Route(FILES_PATH + "/{id}", get_file, methods=["GET"]),
    Route(FILES_PATH + "/{id}", update_file, methods=["PATCH"]),
    Route(FILES_PATH + "/{id}", delete_file, methods=["DELETE"]),
    Route(FILES_PATH + "/{id}/download", download, methods=["GET"]),
]
