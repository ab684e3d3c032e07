"""partway's own OpenAPI 3.1 document, served at /openapi.json (used by schemathesis too).

Its response links say which id a success hands to which next call (a created session to its
part uploads, finish and abort; a finished upload's file to get, update, download and delete;
...): schemathesis follows them to run whole sequences against a live server.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .. import __version__
from ..wire import (
    APP_ID,
    CONSUMER_ID,
    DIGEST,
    DRIVES_PATH,
    FILES_PATH,
    FOLDERS_PATH,
    IDEMPOTENCY_KEY,
    MAX_PAGE,
    METADATA,
    PART_SIZE_HINT,
    SERVICE_ID,
    SESSIONS_PATH,
    UPLOAD_MODE,
    UPLOAD_MODES,
)
from .bodies import (
    CreateFile,
    CreateFolder,
    CreateUploadSession,
    DirectPartsRequest,
    FinishUploadSession,
    UpdateEntry,
)

Json = dict[str, Any]
REF = "#/components/schemas/{model}"
MODELS: list[type[BaseModel]] = [
    CreateUploadSession,
    FinishUploadSession,
    CreateFolder,
    UpdateEntry,
    CreateFile,
    DirectPartsRequest,
]


def _header(name: str, required: bool = False, schema: Json | None = None) -> Json:
    schema = schema or {"type": "string"}
    return {"name": name, "in": "header", "required": required, "schema": schema}


def _query(name: str, schema: Json, required: bool = False) -> Json:
    return {"name": name, "in": "query", "required": required, "schema": schema}


ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
TENANCY = [_header(APP_ID, True), _header(CONSUMER_ID, True), _header(SERVICE_ID)]
RAW = _query("raw", {"type": "boolean"})
FIELDS = _query("fields", {"type": "string"})
CURSOR = _query("cursor", {"type": "string"})
LIMIT = _query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE})
# RFC 3230 as partway documents it: one CRC32C, SHA-1 or SHA-256, base64 (the server also takes
# a comma-separated list, a CRC32C in hex, and skips algorithms it does not know).
DIGEST_HEADER = _header(
    DIGEST,
    schema={
        "type": "string",
        "pattern": (
            "^(sha=[A-Za-z0-9+/]{27}=|sha-256=[A-Za-z0-9+/]{43}=|crc32c=[A-Za-z0-9+/]{6}==)$"
        ),
    },
)
# The metadata of a single-request upload: a JSON object in a header.
METADATA_HEADER = {
    "name": METADATA,
    "in": "header",
    "required": True,
    "content": {
        "application/json": {
            "schema": {"$ref": REF.format(model="CreateFile")},
            "example": {"name": "notes.txt", "parent_folder_id": "root"},
        }
    },
}
IDEMPOTENCY_HEADER = _header(
    IDEMPOTENCY_KEY, schema={"type": "string", "minLength": 1, "maxLength": 255}
)
PART_SIZE_HINT_HEADER = _header(
    PART_SIZE_HINT, schema={"type": "string", "pattern": "^[1-9][0-9]{0,17}$"}
)
UPLOAD_MODE_HEADER = _header(UPLOAD_MODE, schema={"type": "string", "enum": list(UPLOAD_MODES)})
RANGE_HEADER = _header(
    "range", schema={"type": "string", "pattern": "^bytes=[0-9]{0,20}-[0-9]{0,20}$"}
)

# Runtime expressions of the links.
DATA_ID = "$response.body#/data/id"
FIRST_ID = "$response.body#/data/0/id"


def _json_body(
    model: type[BaseModel], required: bool = True, examples: dict[str, Json] | None = None
) -> Json:
    media: Json = {"schema": {"$ref": REF.format(model=model.__name__)}}
    if examples:
        media["examples"] = {name: {"value": value} for name, value in examples.items()}
    return {"required": required, "content": {"application/json": media}}


def _link(op_id: str, expression: str = DATA_ID, **extra: Any) -> Json:
    """A link to `op_id` with its path id from `expression`; `extra` adds parameters or a body."""
    link: Json = {"operationId": op_id, "parameters": {"path.id": expression}}
    if "requestBody" in extra:
        link["requestBody"] = extra.pop("requestBody")
    link["parameters"].update(extra)
    return link


def _op(
    op_id: str,
    status: int,
    params: list[Json],
    body: Json | None = None,
    links: Json | None = None,
) -> Json:
    success: Json = {
        "description": "success",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Envelope"}}},
    }
    if links:
        success["links"] = links
    operation: Json = {
        "operationId": op_id,
        "parameters": TENANCY + params,
        "responses": {
            str(status): success,
            "default": {
                "description": "Apideck error body",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            },
        },
    }
    if body is not None:
        operation["requestBody"] = body
    return operation


def _binary(required: bool = True) -> Json:
    return {
        "required": required,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }


def _file_links(expression: str = DATA_ID) -> Json:
    """What a file id leads to."""
    return {
        "GetFile": _link("filesOne", expression),
        "UpdateFile": _link("filesUpdate", expression),
        "DownloadFile": _link("filesDownload", expression),
        "DeleteFile": _link("filesDelete", expression),
    }


def _session_links(expression: str = DATA_ID) -> Json:
    """What a session id leads to; the first part is part 0."""
    return {
        "GetSession": _link("uploadSessionsOne", expression),
        "UploadFirstPart": _link("uploadSessionsUpload", expression, **{"query.part_number": "0"}),
        "UploadPart": _link("uploadSessionsUpload", expression),
        "FinishSession": _link("uploadSessionsFinish", expression),
        "AbortSession": _link("uploadSessionsDelete", expression),
    }


def _folder_links() -> Json:
    """What a new folder leads to, inside it too: a subfolder, an upload, a listing."""
    inside = {"parent_folder_id": DATA_ID}
    return {
        "GetFolder": _link("foldersOne"),
        "UpdateFolder": _link("foldersUpdate"),
        "DeleteFolder": _link("foldersDelete"),
        "ListFolder": {
            "operationId": "filesAll",
            "parameters": {"query.filter[folder_id]": DATA_ID},
        },
        "CreateSubfolder": {"operationId": "foldersAdd", "requestBody": inside},
        "CreateSessionInFolder": {"operationId": "uploadSessionsAdd", "requestBody": inside},
        # The parent moved into its new child: a cycle the server must refuse.
        "MoveParentIntoFolder": _link(
            "foldersUpdate", "$request.body#/parent_folder_id", requestBody=inside
        ),
    }


def _paths() -> Json:
    # A whole number, which the SDK sends as a float (`3.0`).
    whole = {"type": "number", "multipleOf": 1, "minimum": 0, "maximum": 10000}
    part = _query("part_number", whole, True)
    listing = [
        RAW,
        FIELDS,
        CURSOR,
        LIMIT,
        _query("filter[folder_id]", {"type": "string"}),
        _query("sort[by]", {"type": "string", "enum": ["name", "created_at", "updated_at"]}),
        _query("sort[direction]", {"type": "string", "enum": ["asc", "desc"]}),
    ]
    session = _session_links()
    return {
        SESSIONS_PATH: {
            "post": _op(
                "uploadSessionsAdd",
                201,
                [RAW, IDEMPOTENCY_HEADER, PART_SIZE_HINT_HEADER, UPLOAD_MODE_HEADER],
                _json_body(
                    CreateUploadSession,
                    examples={
                        "sized": {
                            "name": "video.mp4",
                            "parent_folder_id": "root",
                            "size": 30000000,
                        },
                        "size unknown until finish": {
                            "name": "stream.bin",
                            "parent_folder_id": "root",
                            "size": None,
                        },
                        "empty": {"name": "empty.txt", "parent_folder_id": "root", "size": 0},
                    },
                ),
                session,
            ),
            "get": _op(
                "uploadSessionsAll",
                200,
                [RAW, FIELDS, CURSOR, LIMIT],
                links={"GetFirstSession": _link("uploadSessionsOne", FIRST_ID)},
            ),
        },
        SESSIONS_PATH + "/{id}": {
            "get": _op("uploadSessionsOne", 200, [ID, RAW, FIELDS]),
            "put": _op(
                "uploadSessionsUpload",
                200,
                [ID, part, RAW, DIGEST_HEADER],
                _binary(),
                {k: session[k] for k in ("GetSession", "UploadPart", "FinishSession")},
            ),
            "delete": _op(
                "uploadSessionsDelete",
                200,
                [ID, RAW],
                links={"GetSession": _link("uploadSessionsOne")},
            ),
        },
        SESSIONS_PATH + "/{id}/finish": {
            "post": _op(
                "uploadSessionsFinish",
                201,
                [ID, RAW, DIGEST_HEADER],
                _json_body(FinishUploadSession, required=False),
                {
                    **_file_links(),
                    "GetFinishedSession": _link("uploadSessionsOne", "$request.path.id"),
                    "UploadAfterFinish": _link("uploadSessionsUpload", "$request.path.id"),
                },
            ),
        },
        # partway extension (issue #20): parts PUT straight into the object store.
        SESSIONS_PATH + "/{id}/direct": {
            "get": _op("uploadSessionsDirectParts", 200, [ID, RAW, FIELDS]),
            "post": _op(
                "uploadSessionsDirectClaimedParts", 200, [ID, RAW], _json_body(DirectPartsRequest)
            ),
        },
        SESSIONS_PATH + "/{id}/direct/finish": {
            "post": _op("uploadSessionsDirectFinish", 201, [ID, RAW, DIGEST_HEADER]),
        },
        FILES_PATH: {
            "get": _op(
                "filesAll",
                200,
                listing,
                links={
                    # The first entry: a folder, or a file when the folder holds none.
                    "GetFirstFolder": _link("foldersOne", FIRST_ID),
                    "GetFirstFile": _link("filesOne", FIRST_ID),
                    "DownloadFirstFile": _link("filesDownload", FIRST_ID),
                    "NextPage": {
                        "operationId": "filesAll",
                        "parameters": {
                            "query.cursor": "$response.body#/meta/cursors/next",
                            "query.filter[folder_id]": "$request.query.filter[folder_id]",
                            "query.limit": "$request.query.limit",
                        },
                    },
                },
            ),
            "post": _op(
                "filesUpload",
                201,
                [RAW, METADATA_HEADER, DIGEST_HEADER],
                _binary(),
                _file_links(),
            ),
        },
        FILES_PATH + "/{id}": {
            "get": _op("filesOne", 200, [ID, RAW, FIELDS]),
            "patch": _op(
                "filesUpdate",
                200,
                [ID, RAW],
                _json_body(UpdateEntry),
                {k: v for k, v in _file_links().items() if k != "UpdateFile"},
            ),
            "delete": _op("filesDelete", 200, [ID, RAW], links={"GetFile": _link("filesOne")}),
        },
        FILES_PATH + "/{id}/download": {
            "get": {
                **_op("filesDownload", 200, [ID, RANGE_HEADER]),
                "responses": {
                    "200": {"description": "the file's bytes"},
                    "206": {"description": "a byte range"},
                    "default": {"description": "Apideck error body"},
                },
            }
        },
        FOLDERS_PATH: {
            "post": _op(
                "foldersAdd",
                201,
                [RAW, FIELDS],
                _json_body(
                    CreateFolder,
                    examples={
                        "in the root folder": {"name": "Invoices", "parent_folder_id": "root"}
                    },
                ),
                _folder_links(),
            )
        },
        FOLDERS_PATH + "/{id}": {
            "get": _op("foldersOne", 200, [ID, RAW, FIELDS]),
            "patch": _op(
                "foldersUpdate",
                200,
                [ID, RAW],
                _json_body(UpdateEntry),
                {"GetFolder": _link("foldersOne"), "DeleteFolder": _link("foldersDelete")},
            ),
            "delete": _op(
                "foldersDelete", 200, [ID, RAW], links={"GetFolder": _link("foldersOne")}
            ),
        },
        DRIVES_PATH: {
            "get": _op(
                "drivesAll",
                200,
                [RAW, FIELDS],
                links={"GetFirstDrive": _link("drivesOne", FIRST_ID)},
            )
        },
        DRIVES_PATH + "/{id}": {"get": _op("drivesOne", 200, [ID, RAW, FIELDS])},
    }


@cache
def document() -> Json:
    from .openapi_catalog import MODELS as CATALOG_MODELS  # issue #18
    from .openapi_catalog import catalog_paths
    from .openapi_direct import MODELS as DIRECT_MODELS  # issue #20
    from .openapi_direct import SCHEMAS as DIRECT_SCHEMAS
    from .openapi_direct import direct_paths
    from .openapi_tus import SCHEMAS as TUS_SCHEMAS  # issue #19
    from .openapi_tus import tus_paths

    models = MODELS + CATALOG_MODELS + DIRECT_MODELS
    _, defs = models_json_schema([(m, "validation") for m in models], ref_template=REF)
    schemas: Json = dict(defs.get("$defs", {}))
    schemas["Envelope"] = {
        "type": "object",
        "required": ["status_code", "status", "service", "resource", "operation", "data"],
        "properties": {
            "status_code": {"type": "integer"},
            "status": {"type": "string"},
            "service": {"type": "string"},
            "resource": {"type": "string"},
            "operation": {"type": "string"},
            "data": {},
        },
    }
    schemas.update(DIRECT_SCHEMAS)
    schemas.update(TUS_SCHEMAS)
    schemas["Error"] = {
        "type": "object",
        "required": ["status_code", "error", "type_name", "message", "detail", "ref"],
        "properties": {
            "status_code": {"type": "integer"},
            "error": {"type": "string"},
            "type_name": {"type": "string"},
            "message": {"type": "string"},
            "detail": {},
            "ref": {"type": "string"},
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "partway", "version": __version__},
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": {
            **(paths := _paths()),
            **catalog_paths(),
            **direct_paths(paths),
            **tus_paths(),
        },
    }


async def openapi_json(request: Request) -> JSONResponse:
    return JSONResponse(document())


routes = [Route("/openapi.json", openapi_json, methods=["GET"])]
