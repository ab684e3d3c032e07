"""Domain objects → Apideck JSON, and the success envelope around them."""

from __future__ import annotations

import base64
from http import HTTPStatus
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from ..domain.digests import OFFERED
from ..domain.exports import export_formats, media_type_of
from ..domain.models import (
    ROOT_FOLDER_ID,
    Drive,
    Entry,
    EntryKind,
    SessionState,
    SessionSummary,
    UploadSession,
)
from ..domain.paging import Page
from ..domain.policy import format_ranges, merged_ranges, part_number
from ..wire import format_time
from .params import flag, select_fields

ROOT_NAME = "root"


def envelope(
    request: Request,
    status: int,
    service: str,
    resource: str,
    operation: str,
    data: object,
    meta: dict[str, Any] | None = None,
    links: dict[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "status_code": status,
        "status": HTTPStatus(status).phrase,
        "service": service,
        "resource": resource,
        "operation": operation,
        "data": select_fields(data, request.query_params.get("fields")),
    }
    if meta is not None:
        body["meta"] = meta
    if links is not None:
        body["links"] = links
    if flag(request, "raw"):
        body["_raw"] = {"data": data}
    return JSONResponse(body, status_code=status)


def page_envelope(
    request: Request, service: str, resource: str, page: Page[Any], data: list[Any]
) -> JSONResponse:
    """A listing's page, with the Apideck cursors and links to the next page."""
    meta = {
        "items_on_page": len(data),
        "cursors": {"previous": None, "current": page.cursor, "next": page.next_cursor},
    }
    next_link = None
    if page.next_cursor:
        base = str(request.url.remove_query_params("cursor"))
        next_link = f"{base}{'&' if '?' in base else '?'}cursor={page.next_cursor}"
    links = {"previous": None, "current": str(request.url), "next": next_link}
    return envelope(request, 200, service, resource, "all", data, meta, links)


def session_json(session: UploadSession) -> dict[str, Any]:
    # Apideck's view of the ranges: each is a part, numbered by where it starts.
    held = sorted(session.ranges, key=lambda r: r.start)
    data = _session_fields(session, merged_ranges(held))
    data["uploaded_parts"] = [part_number(r, session.part_size) for r in held]
    return data


def summary_json(summary: SessionSummary) -> dict[str, Any]:
    """A listed session: its parts as a count, not as a list."""
    data = _session_fields(summary.session, list(summary.byte_ranges))
    data["uploaded_parts_count"] = summary.range_count
    return data


def _session_fields(session: UploadSession, ranges: list[tuple[int, int]]) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": session.id,
        "success": session.state is SessionState.FINISHED,
        "part_size": session.part_size,
        "parallel_upload_supported": True,
        "uploaded_byte_range": format_ranges(ranges),
        "expires_at": format_time(session.expires_at),
        "size": session.size,
        "name": session.name,
        "parent_folder_id": session.folder_id,
        "drive_id": session.drive_id,
        "state": session.state.value,
        # partway extension: where the parts go (domain/direct_uploads.py).
        "upload_mode": "direct" if session.direct else "proxied",
        # partway extension: the digest algorithms parts and finish may carry, fastest first.
        "digest_algorithms": list(OFFERED),
    }
    if session.file_id is not None:
        data["file_id"] = session.file_id
    if session.client_metadata:
        # A partway extension: the pairs a tus client sent, or a pre-create hook set.
        data["metadata"] = dict(session.client_metadata)
    return data


def linked(folders: list[Entry]) -> list[dict[str, Any]]:
    return [{"id": ROOT_FOLDER_ID, "name": ROOT_NAME}] + [
        {"id": f.id, "name": f.name} for f in folders
    ]


def path_of(folders: list[Entry], name: str) -> str:
    return "/" + "/".join([f.name for f in folders] + [name])


def entry_json(entry: Entry, folders: list[Entry]) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": entry.id,
        "name": entry.name,
        "description": entry.description,
        "type": entry.kind.value,
        "path": path_of(folders, entry.name),
        "parent_folders": linked(folders),
        "parent_folders_complete": True,
        "created_at": format_time(entry.created_at),
        "updated_at": format_time(entry.updated_at),
        # One consumer owns and writes everything in its drives (issue #18).
        "owner": {"id": entry.tenant.consumer_id},
        "created_by": entry.tenant.consumer_id,
        "updated_by": entry.tenant.consumer_id,
    }
    if entry.kind is EntryKind.FILE:
        data.update(
            {
                "mime_type": media_type_of(entry),
                "size": entry.size,
                "downloadable": True,
                "exportable": False,
                "export_formats": export_formats(entry),
                "permissions": {"download": True},
            }
        )
        sums = checksums_json(entry)
        if sums:
            data["checksums"] = sums  # a partway extension
    return data


def checksums_json(entry: Entry) -> dict[str, str]:
    """The file's known digests as a `digest` header writes them (RFC 3230 names, base64), so a
    client compares them as they are; CRC32C first, the one every finished upload may have."""
    found = {"crc32c": entry.crc32c, "sha": entry.sha1, "sha-256": entry.sha256}
    return {name: b64_of_hex(value) for name, value in found.items() if value}


def b64_of_hex(value: str) -> str:
    return base64.b64encode(bytes.fromhex(value)).decode()


def root_folder_json() -> dict[str, Any]:
    return {
        "id": ROOT_FOLDER_ID,
        "name": ROOT_NAME,
        "path": "/",
        "parent_folders": [],
        "parent_folders_complete": True,
    }


def drive_json(drive: Drive) -> dict[str, Any]:
    return {"id": drive.id, "name": drive.name, "description": drive.description}
