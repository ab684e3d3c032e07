"""The OpenAPI paths of issue #18's routes (drives, drive groups, shared links, search, export),
merged into partway's document by openapi.document()."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from ..wire import DRIVE_GROUPS_PATH, DRIVES_PATH, FILES_PATH, FOLDERS_PATH, SHARED_LINKS_PATH
from . import openapi as doc
from .catalog_bodies import (
    CopyFolder,
    CreateDrive,
    CreateDriveGroup,
    FilesSearch,
    SharedLinkBody,
    UpdateDrive,
    UpdateDriveGroup,
)

Json = dict[str, Any]
MODELS: list[type[BaseModel]] = [
    CreateDrive,
    UpdateDrive,
    CreateDriveGroup,
    UpdateDriveGroup,
    SharedLinkBody,
    FilesSearch,
    CopyFolder,
]
PAGE = [doc.RAW, doc.FIELDS, doc.CURSOR, doc.LIMIT]


def _filter(name: str, schema: Json | None = None) -> Json:
    return doc._query(f"filter[{name}]", schema or {"type": "string"})


def _crud(path: str, prefix: str, create: type[BaseModel], update: type[BaseModel]) -> Json:
    one = {
        f"Get{prefix}": doc._link(f"{prefix[0].lower()}{prefix[1:]}One"),
        f"Delete{prefix}": doc._link(f"{prefix[0].lower()}{prefix[1:]}Delete"),
    }
    op = prefix[0].lower() + prefix[1:]
    return {
        path: {
            "get": doc._op(f"{op}All", 200, PAGE),
            "post": doc._op(f"{op}Add", 201, [doc.RAW], doc._json_body(create), one),
        },
        path + "/{id}": {
            "get": doc._op(f"{op}One", 200, [doc.ID, doc.RAW, doc.FIELDS]),
            "patch": doc._op(f"{op}Update", 200, [doc.ID, doc.RAW], doc._json_body(update), one),
            "delete": doc._op(f"{op}Delete", 200, [doc.ID, doc.RAW]),
        },
    }


def catalog_paths() -> Json:
    paths: Json = {}
    paths.update(_crud(DRIVES_PATH, "Drives", CreateDrive, UpdateDrive))
    paths.update(_crud(DRIVE_GROUPS_PATH, "DriveGroups", CreateDriveGroup, UpdateDriveGroup))
    paths.update(_crud(SHARED_LINKS_PATH, "SharedLinks", SharedLinkBody, SharedLinkBody))
    shared = _filter("shared", {"type": "boolean"})
    paths[FILES_PATH + "/search"] = {
        "post": doc._op(
            "filesSearch",
            200,
            [*PAGE, _filter("drive_id"), _filter("folder_id"), shared],
            doc._json_body(FilesSearch, examples={"by name": {"query": "report"}}),
        )
    }
    paths[FILES_PATH + "/{id}/export"] = {
        "get": {
            **doc._op("filesExport", 200, [doc.ID, doc._query("format", {"type": "string"}, True)]),
            "responses": {
                "200": {"description": "the file in that format"},
                "default": {"description": "Apideck error body"},
            },
        }
    }
    paths[FOLDERS_PATH + "/{id}/copy"] = {
        "post": doc._op(
            "foldersCopy", 200, [doc.ID, doc.RAW, doc.FIELDS], doc._json_body(CopyFolder)
        )
    }
    return paths
