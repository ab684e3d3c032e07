"""The OpenAPI paths and shapes of issue #20's routes, merged into partway's document by
openapi.document(): the direct-mode fields of an upload session and its `/direct` routes, the
part URLs partway serves itself (`/signed/parts`), the whole-file URLs of `GET /s3/params`
(`/signed/uploads`), and the routes Uppy's S3 plugin calls (`/s3/…`, `/companion/grants`).

The response shapes are closed (`additionalProperties: false`), so that
tests/e2e/test_openapi_shapes.py, which checks real answers against them, catches a field
added to a handler and not here as surely as one documented and no longer sent."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from ..domain.form_uploads import PATH as UPLOADS_PATH
from ..domain.signed_parts import PATH as PARTS_PATH
from ..wire import SESSIONS_PATH, UPLOAD_MODES
from . import openapi as doc
from .s3_companion import GRANTS_PATH, CompleteMultipart, CreateMultipart, GrantRequest

Json = dict[str, Any]
MODELS: list[type[BaseModel]] = [CreateMultipart, CompleteMultipart, GrantRequest]
STRING: Json = {"type": "string"}
INTEGER: Json = {"type": "integer"}
HEADERS: Json = {"type": "object", "additionalProperties": {"type": "string"}}


def _ref(name: str) -> Json:
    return {"$ref": doc.REF.format(model=name)}


def _closed(required: list[str], properties: Json) -> Json:
    return {
        "type": "object",
        "required": required,
        "properties": properties,
        "additionalProperties": False,
    }


DIRECT_PART = _closed(
    ["part_number", "offset", "size", "method", "url", "headers", "expires_at"],
    {
        "part_number": {"type": "integer", "minimum": 0},
        "offset": {"type": "integer", "minimum": 0},
        "size": {"type": "integer", "minimum": 0},
        "method": {"type": "string", "enum": ["PUT"]},
        "url": {"type": "string", "format": "uri"},
        "headers": HEADERS,
        "expires_at": {"type": "string", "format": "date-time"},
    },
)
SESSION_FIELDS: Json = {
    "id": STRING,
    "success": {"type": "boolean"},
    "part_size": INTEGER,
    "parallel_upload_supported": {"type": "boolean"},
    "uploaded_byte_range": STRING,
    "expires_at": STRING,
    "size": {"type": ["integer", "null"]},
    "name": STRING,
    "parent_folder_id": STRING,
    "drive_id": {"type": ["string", "null"]},
    "state": {"type": "string", "enum": ["open", "finishing", "finished", "expired"]},
    # partway extensions
    "upload_mode": {"type": "string", "enum": ["direct", "proxied"]},
    "digest_algorithms": {"type": "array", "items": STRING},
    "uploaded_parts": {"type": "array", "items": INTEGER},
    "file_id": STRING,
    "metadata": {"type": "object", "additionalProperties": STRING},
    "direct_parts": {
        "description": "partway extension, direct sessions only: a signed URL per part still "
        "needed (neither received by partway nor held by the store as expected)",
        "type": "array",
        "items": _ref("DirectPart"),
    },
}
SESSION = _closed(
    ["id", "success", "part_size", "state", "upload_mode", "digest_algorithms", "uploaded_parts"],
    SESSION_FIELDS,
)
DIRECT_PARTS = _closed(
    ["id", "parts"], {"id": STRING, "parts": {"type": "array", "items": _ref("DirectPart")}}
)
SESSION_ID = _closed(["id"], {"id": STRING})
S3_CREATED = _closed(["key", "uploadId"], {"key": STRING, "uploadId": STRING})
S3_SIGNED_PART = _closed(["url", "expires"], {"url": STRING, "expires": INTEGER})
S3_PARTS = {
    "type": "array",
    "items": _closed(
        ["PartNumber", "Size", "ETag"], {"PartNumber": INTEGER, "Size": INTEGER, "ETag": STRING}
    ),
}
S3_COMPLETED = _closed(
    ["location", "key", "file_id"], {"location": STRING, "key": STRING, "file_id": STRING}
)
S3_UPLOAD_PARAMS = _closed(
    ["method", "url", "fields", "headers", "expires"],
    {
        "method": {"type": "string", "enum": ["POST"]},
        "url": {"type": "string", "format": "uri"},
        "fields": _closed(["key"], {"key": STRING}),
        "headers": HEADERS,
        "expires": INTEGER,
    },
)
GRANT = _closed(
    ["companion_endpoint", "expires_at"], {"companion_endpoint": STRING, "expires_at": STRING}
)
# A file as the finish routes answer it: documented here only as far as #20's routes need.
FILE: Json = {
    "type": "object",
    "required": ["id", "name", "type", "size", "parent_folders"],
    "properties": {
        "id": STRING,
        "name": STRING,
        "type": {"type": "string", "enum": ["file"]},
        "size": INTEGER,
        "parent_folders": {"type": "array", "items": {"type": "object"}},
    },
}
SCHEMAS: Json = {
    "File": FILE,
    "DirectPart": DIRECT_PART,
    "UploadSession": SESSION,
    "DirectParts": DIRECT_PARTS,
    "SessionId": SESSION_ID,
    "S3MultipartCreated": S3_CREATED,
    "S3SignedPart": S3_SIGNED_PART,
    "S3Parts": S3_PARTS,
    "S3MultipartCompleted": S3_COMPLETED,
    "S3Aborted": _closed([], {}),
    "S3UploadParams": S3_UPLOAD_PARAMS,
    "CompanionGrant": GRANT,
}


def enveloped(operation: Json, status: int, data: str) -> Json:
    """The operation with its success's `data` documented as the named schema."""
    success = operation["responses"][str(status)]
    envelope = {"allOf": [_ref("Envelope"), {"properties": {"data": _ref(data)}}]}
    success["content"] = {"application/json": {"schema": envelope}}
    return operation


def _plain(
    op_id: str, status: int, params: list[Json], schema: Json, body: Json | None = None
) -> Json:
    """A companion route: tenancy as every route, but a plain JSON answer (no envelope), as
    the plugin reads it."""
    operation = doc._op(op_id, status, params, body)
    operation["responses"][str(status)] = {
        "description": "success",
        "content": {"application/json": {"schema": schema}},
    }
    operation["description"] = (
        "Also served under a companion endpoint (`POST /companion/grants`), with no headers."
    )
    return operation


def _capability(op_id: str, status: int, params: list[Json], body: Json, data: str) -> Json:
    """A signed URL's route: no credentials (the query is the capability), an envelope."""
    operation = doc._op(op_id, status, params, body)
    operation["parameters"] = params
    operation["security"] = []
    return enveloped(operation, status, data)


def _signed_query(*names: str, optional: tuple[str, ...] = ()) -> list[Json]:
    return [doc._query(n, STRING, True) for n in names] + [doc._query(n, STRING) for n in optional]


def direct_paths(paths: Json) -> Json:
    """The #20 paths, and the direct-mode shapes of the session routes already in `paths`."""
    sessions = paths[SESSIONS_PATH + "/{id}"]
    enveloped(sessions["get"], 200, "UploadSession")
    enveloped(paths[SESSIONS_PATH]["post"], 201, "SessionId")
    direct = paths[SESSIONS_PATH + "/{id}/direct"]
    enveloped(direct["get"], 200, "DirectParts")
    enveloped(direct["post"], 200, "DirectParts")
    paths[SESSIONS_PATH]["post"]["parameters"][-1]["description"] = (
        f"partway extension: where the parts go ({', '.join(UPLOAD_MODES)}); `auto` is direct "
        "where the store takes parts itself or the service's default is direct"
    )
    upload_id = {"name": "upload_id", "in": "path", "required": True, "schema": STRING}
    number = {"name": "part_number", "in": "path", "required": True, "schema": STRING}
    key = doc._query("key", STRING, True)
    part_number = {"name": "number", "in": "path", "required": True, "schema": STRING}
    binary = doc._binary()
    form = {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["key", "file"],
                    "properties": {"key": STRING, "file": {"type": "string", "format": "binary"}},
                }
            },
            **binary["content"],
        },
    }
    uploads_query = _signed_query("id", "app_id", "consumer_id", "expires", "signature")
    return {
        PARTS_PATH + "/{id}/{number}": {
            "put": _capability(
                "signedPartsUpload",
                200,
                [
                    doc.ID,
                    part_number,
                    *_signed_query(
                        "app_id", "consumer_id", "expires", "signature", optional=("crc32c",)
                    ),
                ],
                binary,
                "SessionId",
            )
        },
        UPLOADS_PATH: {
            "post": _capability("signedUploadsPost", 201, uploads_query, form, "File"),
            "put": _capability("signedUploadsPut", 201, uploads_query, binary, "File"),
        },
        GRANTS_PATH: {
            "post": _plain(
                "companionGrantsAdd",
                200,
                [],
                _ref("CompanionGrant"),
                doc._json_body(GrantRequest, required=False),
            )
        },
        "/s3/multipart": {
            "post": _plain(
                "s3MultipartCreate",
                200,
                [],
                _ref("S3MultipartCreated"),
                doc._json_body(CreateMultipart),
            )
        },
        "/s3/multipart/{upload_id}": {
            "get": _plain("s3MultipartParts", 200, [upload_id, key], _ref("S3Parts")),
            "delete": _plain("s3MultipartAbort", 200, [upload_id, key], _ref("S3Aborted")),
        },
        "/s3/multipart/{upload_id}/{part_number}": {
            "get": _plain(
                "s3MultipartSignPart", 200, [upload_id, number, key], _ref("S3SignedPart")
            )
        },
        "/s3/multipart/{upload_id}/complete": {
            "post": _plain(
                "s3MultipartComplete",
                200,
                [upload_id, key],
                _ref("S3MultipartCompleted"),
                doc._json_body(CompleteMultipart),
            )
        },
        "/s3/params": {
            "get": _plain(
                "s3UploadParams",
                200,
                [
                    doc._query("filename", STRING, True),
                    doc._query("type", STRING),
                    doc._query("metadata[parent_folder_id]", STRING),
                    doc._query("metadata[drive_id]", STRING),
                ],
                _ref("S3UploadParams"),
            )
        },
    }
