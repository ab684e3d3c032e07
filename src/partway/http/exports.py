"""GET /file-storage/files/{id}/export?format=…: a file in one of its `export_formats`; and
POST …/folders/{id}/copy, refused by name for now."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..domain.errors import OperationUnsupported
from ..domain.exports import check_format
from ..domain.models import EntryKind
from ..wire import FILES_PATH, FOLDERS_PATH
from .context import caller
from .delivery import send_file


async def export_file(request: Request) -> Response:
    who = await caller(request)
    entry = await who.services.files.get(who.tenant, request.path_params["id"], EntryKind.FILE)
    check_format(entry, request.query_params.get("format"))
    # The one format offered is the file's own: its bytes are the export.
    return await send_file(request, who.services.files, who.tenant, entry)


async def copy_folder(request: Request) -> Response:
    """Not done yet (issue #18 item 5): the folder is looked up (404 if unknown), then the
    operation is refused by name, which the SDKs raise as a BadRequestResponse saying so."""
    who = await caller(request)
    await who.services.files.get(who.tenant, request.path_params["id"], EntryKind.FOLDER)
    raise OperationUnsupported("folders.copy is not supported by this server yet")


routes = [
    Route(FILES_PATH + "/{id}/export", export_file, methods=["GET"]),
    Route(FOLDERS_PATH + "/{id}/copy", copy_folder, methods=["POST"]),
]
