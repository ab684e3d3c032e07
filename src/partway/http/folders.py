"""Routes of /file-storage/folders (drives: http/drives.py)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..domain.models import ROOT_FOLDER_ID, EntryKind, EntryPatch
from ..wire import FOLDERS_PATH
from . import params
from .bodies import CreateFolder, UpdateEntry
from .context import caller
from .render import entry_json, envelope, root_folder_json


async def create_folder(request: Request) -> Response:
    who = await caller(request)
    body = await params.json_body(request, CreateFolder)
    entry = await who.services.files.create_folder(
        who.tenant, body.name, body.parent_folder_id, body.drive_id, body.description
    )
    return envelope(request, 201, who.service_id, "Folders", "add", {"id": entry.id})


async def get_folder(request: Request) -> Response:
    who = await caller(request)
    folder_id = request.path_params["id"]
    if folder_id == ROOT_FOLDER_ID:
        return envelope(request, 200, who.service_id, "Folders", "one", root_folder_json())
    files = who.services.files
    entry = await files.get(who.tenant, folder_id, EntryKind.FOLDER)
    data = entry_json(entry, await files.tree.ancestors(who.tenant, entry))
    del data["type"]
    return envelope(request, 200, who.service_id, "Folders", "one", data)


async def update_folder(request: Request) -> Response:
    who = await caller(request)
    body = await params.json_body(request, UpdateEntry)
    patch = EntryPatch(body.name, body.parent_folder_id, body.description)
    entry = await who.services.files.update(
        who.tenant, request.path_params["id"], EntryKind.FOLDER, patch
    )
    return envelope(request, 200, who.service_id, "Folders", "update", {"id": entry.id})


async def delete_folder(request: Request) -> Response:
    who = await caller(request)
    folder_id = request.path_params["id"]
    await who.services.files.delete_folder(who.tenant, folder_id)
    return envelope(request, 200, who.service_id, "Folders", "delete", {"id": folder_id})


routes = [
    Route(FOLDERS_PATH, create_folder, methods=["POST"]),
    Route(FOLDERS_PATH + "/{id}", get_folder, methods=["GET"]),
    Route(FOLDERS_PATH + "/{id}", update_folder, methods=["PATCH"]),
    Route(FOLDERS_PATH + "/{id}", delete_folder, methods=["DELETE"]),
]
