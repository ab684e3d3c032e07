"""POST /file-storage/folders/{id}/copy: a deep copy of a folder tree (domain/copies.py)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..domain.copies import CopyRequest
from ..wire import FOLDERS_PATH
from . import params
from .catalog_bodies import CopyFolder
from .context import caller
from .render import envelope


async def copy_folder(request: Request) -> Response:
    """Answers the spec's UpdateFolderResponse: 200 and the new folder's id. The spec says
    nothing of name clashes; like every create, a clash in the target folder is a 409."""
    who = await caller(request)
    body = await params.json_body(request, CopyFolder)
    copy = CopyRequest(request.path_params["id"], body.parent_folder_id, body.name)
    entry = await who.services.catalog.copies.copy(who.tenant, copy)
    return envelope(request, 200, who.service_id, "Folders", "copy", {"id": entry.id})


routes = [Route(FOLDERS_PATH + "/{id}/copy", copy_folder, methods=["POST"])]
