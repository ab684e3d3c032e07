"""GET /file-storage/files/{id}/export?format=…: a file in one of its `export_formats`."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..domain.exports import check_format
from ..domain.models import EntryKind
from ..wire import FILES_PATH
from .context import caller
from .delivery import send_file


async def export_file(request: Request) -> Response:
    who = await caller(request)
    entry = await who.services.files.get(who.tenant, request.path_params["id"], EntryKind.FILE)
    check_format(entry, request.query_params.get("format"))
    # The one format offered is the file's own: its bytes are the export.
    return await send_file(request, who.services.files, who.tenant, entry)


routes = [
    Route(FILES_PATH + "/{id}/export", export_file, methods=["GET"]),
]
