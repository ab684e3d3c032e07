"""partway's own OpenAPI 3.1 document, served at /openapi.json (used by schemathesis too)."""

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
)
from .bodies import CreateFolder, CreateUploadSession, FinishUploadSession, UpdateEntry

Json = dict[str, Any]
REF = "#/components/schemas/{model}"
MODELS: list[type[BaseModel]] = [
    CreateUploadSession,
    FinishUploadSession,
    CreateFolder,
    UpdateEntry,
]


def _header(name: str, required: bool = False) -> Json:
    return {"name": name, "in": "header", "required": required, "schema": {"type": "string"}}


def _query(name: str, schema: Json, required: bool = False) -> Json:
    return {"name": name, "in": "query", "required": required, "schema": schema}


ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
TENANCY = [_header(APP_ID, True), _header(CONSUMER_ID, True), _header(SERVICE_ID)]
RAW = _query("raw", {"type": "boolean"})
FIELDS = _query("fields", {"type": "string"})
CURSOR = _query("cursor", {"type": "string"})
LIMIT = _query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE})


def _json_body(model: type[BaseModel], required: bool = True) -> Json:
    schema = {"$ref": REF.format(model=model.__name__)}
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def _op(op_id: str, status: int, params: list[Json], body: Json | None = None) -> Json:
    operation: Json = {
        "operationId": op_id,
        "parameters": TENANCY + params,
        "responses": {
            str(status): {
                "description": "success",
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Envelope"}}
                },
            },
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


def _paths() -> Json:
    part = _query("part_number", {"type": "number", "minimum": 0, "maximum": 10000}, True)
    listing = [
        RAW,
        FIELDS,
        CURSOR,
        LIMIT,
        _query("filter[folder_id]", {"type": "string"}),
        _query("sort[by]", {"type": "string", "enum": ["name", "created_at", "updated_at"]}),
        _query("sort[direction]", {"type": "string", "enum": ["asc", "desc"]}),
    ]
    return {
        SESSIONS_PATH: {
            "post": _op(
                "uploadSessionsAdd",
                201,
                [RAW, _header(IDEMPOTENCY_KEY), _header(PART_SIZE_HINT)],
                _json_body(CreateUploadSession),
            ),
            "get": _op("uploadSessionsAll", 200, [RAW, FIELDS, CURSOR, LIMIT]),
        },
        SESSIONS_PATH + "/{id}": {
            "get": _op("uploadSessionsOne", 200, [ID, RAW, FIELDS]),
            "put": _op("uploadSessionsUpload", 200, [ID, part, RAW, _header(DIGEST)], _binary()),
            "delete": _op("uploadSessionsDelete", 200, [ID, RAW]),
        },
        SESSIONS_PATH + "/{id}/finish": {
            "post": _op(
                "uploadSessionsFinish",
                201,
                [ID, RAW, _header(DIGEST)],
                _json_body(FinishUploadSession, required=False),
            ),
        },
        FILES_PATH: {
            "get": _op("filesAll", 200, listing),
            "post": _op("filesUpload", 201, [RAW, _header(METADATA, True)], _binary()),
        },
        FILES_PATH + "/{id}": {
            "get": _op("filesOne", 200, [ID, RAW, FIELDS]),
            "patch": _op("filesUpdate", 200, [ID, RAW], _json_body(UpdateEntry)),
            "delete": _op("filesDelete", 200, [ID, RAW]),
        },
        FILES_PATH + "/{id}/download": {
            "get": {
                **_op("filesDownload", 200, [ID, _header("range")]),
                "responses": {
                    "200": {"description": "the file's bytes"},
                    "206": {"description": "a byte range"},
                    "default": {"description": "Apideck error body"},
                },
            }
        },
        FOLDERS_PATH: {"post": _op("foldersAdd", 201, [RAW, FIELDS], _json_body(CreateFolder))},
        FOLDERS_PATH + "/{id}": {
            "get": _op("foldersOne", 200, [ID, RAW, FIELDS]),
            "patch": _op("foldersUpdate", 200, [ID, RAW], _json_body(UpdateEntry)),
            "delete": _op("foldersDelete", 200, [ID, RAW]),
        },
        DRIVES_PATH: {"get": _op("drivesAll", 200, [RAW, FIELDS])},
        DRIVES_PATH + "/{id}": {"get": _op("drivesOne", 200, [ID, RAW, FIELDS])},
    }


@cache
def document() -> Json:
    _, defs = models_json_schema([(m, "validation") for m in MODELS], ref_template=REF)
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
        "paths": _paths(),
    }


async def openapi_json(request: Request) -> JSONResponse:
    return JSONResponse(document())


routes = [Route("/openapi.json", openapi_json, methods=["GET"])]
