"""Routes of /file-storage/drives and /file-storage/drive-groups."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..domain.drives import Changes, DriveGroup, DriveRecord
from ..domain.errors import UnsupportedFilter
from ..wire import DRIVE_GROUPS_PATH, DRIVES_PATH, format_time
from . import params
from .catalog_bodies import CreateDrive, CreateDriveGroup, UpdateDrive, UpdateDriveGroup
from .context import caller
from .render import envelope, page_envelope


def refuse_filters(request: Request, supported: tuple[str, ...] = ()) -> None:
    """A filter partway cannot apply is refused by name, never ignored."""
    for key in request.query_params:
        if key.startswith("filter[") and key not in supported:
            raise UnsupportedFilter(f"{key} is not supported here", {"unsupported": key})


def _stamps(tenant_consumer: str | None, created: Any, updated: Any) -> dict[str, Any]:
    return {
        "created_by": tenant_consumer,
        "updated_by": tenant_consumer,
        "created_at": format_time(created) if created else None,
        "updated_at": format_time(updated) if updated else None,
    }


def drive_json(drive: DriveRecord) -> dict[str, Any]:
    consumer = drive.tenant.consumer_id if drive.tenant else None
    return {
        "id": drive.id,
        "name": drive.name,
        "description": drive.description,
        **_stamps(consumer, drive.created_at, drive.updated_at),
    }


def group_json(group: DriveGroup) -> dict[str, Any]:
    return {
        "id": group.id,
        "name": group.name,
        "display_name": group.display_name,
        "description": group.description,
        **_stamps(group.tenant.consumer_id, group.created_at, group.updated_at),
    }


async def list_drives(request: Request) -> Response:
    who = await caller(request)
    refuse_filters(request)
    page = await who.services.catalog.drives.list(
        who.tenant, request.query_params.get("cursor"), params.page_limit(request)
    )
    data = [drive_json(d) for d in page.items]
    return page_envelope(request, who.service_id, "Drives", page, data)


async def create_drive(request: Request) -> Response:
    who = await caller(request)
    body = await params.json_body(request, CreateDrive)
    drive = await who.services.catalog.drives.create(who.tenant, body.name, body.description)
    return envelope(request, 201, who.service_id, "Drives", "add", {"id": drive.id})


async def get_drive(request: Request) -> Response:
    who = await caller(request)
    drive = await who.services.catalog.drives.get(who.tenant, request.path_params["id"])
    return envelope(request, 200, who.service_id, "Drives", "one", drive_json(drive))


async def update_drive(request: Request) -> Response:
    who = await caller(request)
    body = await params.json_body(request, UpdateDrive)
    changes = Changes(
        name=body.name,
        description=body.description,
        set_description="description" in body.model_fields_set,
    )
    drive = await who.services.catalog.drives.update(who.tenant, request.path_params["id"], changes)
    return envelope(request, 200, who.service_id, "Drives", "update", {"id": drive.id})


async def delete_drive(request: Request) -> Response:
    who = await caller(request)
    drive_id = request.path_params["id"]
    await who.services.catalog.drives.delete(who.tenant, drive_id)
    return envelope(request, 200, who.service_id, "Drives", "delete", {"id": drive_id})


async def list_groups(request: Request) -> Response:
    who = await caller(request)
    refuse_filters(request)
    page = await who.services.catalog.drives.list_groups(
        who.tenant, request.query_params.get("cursor"), params.page_limit(request)
    )
    data = [group_json(g) for g in page.items]
    return page_envelope(request, who.service_id, "DriveGroups", page, data)


async def create_group(request: Request) -> Response:
    who = await caller(request)
    body = await params.json_body(request, CreateDriveGroup)
    group = await who.services.catalog.drives.create_group(
        who.tenant, body.name, body.display_name, body.description
    )
    return envelope(request, 201, who.service_id, "DriveGroups", "add", {"id": group.id})


async def get_group(request: Request) -> Response:
    who = await caller(request)
    group = await who.services.catalog.drives.get_group(who.tenant, request.path_params["id"])
    return envelope(request, 200, who.service_id, "DriveGroups", "one", group_json(group))


async def update_group(request: Request) -> Response:
    who = await caller(request)
    body = await params.json_body(request, UpdateDriveGroup)
    fields = body.model_fields_set
    changes = Changes(
        name=body.name,
        description=body.description,
        display_name=body.display_name,
        set_description="description" in fields,
        set_display_name="display_name" in fields,
    )
    group = await who.services.catalog.drives.update_group(
        who.tenant, request.path_params["id"], changes
    )
    return envelope(request, 200, who.service_id, "DriveGroups", "update", {"id": group.id})


async def delete_group(request: Request) -> Response:
    who = await caller(request)
    group_id = request.path_params["id"]
    await who.services.catalog.drives.delete_group(who.tenant, group_id)
    return envelope(request, 200, who.service_id, "DriveGroups", "delete", {"id": group_id})


routes = [
    Route(DRIVES_PATH, list_drives, methods=["GET"]),
    Route(DRIVES_PATH, create_drive, methods=["POST"]),
    Route(DRIVES_PATH + "/{id}", get_drive, methods=["GET"]),
    Route(DRIVES_PATH + "/{id}", update_drive, methods=["PATCH"]),
    Route(DRIVES_PATH + "/{id}", delete_drive, methods=["DELETE"]),
    Route(DRIVE_GROUPS_PATH, list_groups, methods=["GET"]),
    Route(DRIVE_GROUPS_PATH, create_group, methods=["POST"]),
    Route(DRIVE_GROUPS_PATH + "/{id}", get_group, methods=["GET"]),
    Route(DRIVE_GROUPS_PATH + "/{id}", update_group, methods=["PATCH"]),
    Route(DRIVE_GROUPS_PATH + "/{id}", delete_group, methods=["DELETE"]),
]
