"""The OpenAPI paths of the resumable-upload front at /uploads (http/resumable.py), merged into
partway's document by openapi.document(): tus v1.0.0 (http/tus.py) and the IETF draft, interop
versions 6 to 8 (http/ietf.py), on the same routes. A request is a draft one when it sends
`Upload-Draft-Interop-Version`, else a tus one (which must send `Tus-Resumable: 1.0.0`), so
each operation lists both protocols' headers and both answers.

Their answers are headers, not JSON: each response names the headers it carries (those always
sent are `required`) with a schema for their values; tests/e2e/test_openapi_shapes.py checks
real answers against them, and that no `Tus-*` or `Upload-*` header is sent undocumented.
Errors are text/plain for tus (`<type>: <message>`) and application/problem+json for the
draft."""

from __future__ import annotations

from typing import Any

from ..domain.digests import TUS_ALGORITHMS
from . import openapi as doc
from .ietf import INTEROP_VERSIONS, PARTIAL_UPLOAD
from .tus_wire import EXTENSIONS, OFFSET_OCTET_STREAM, TUS_VERSION

Json = dict[str, Any]
PATH = "/uploads"
ITEM = PATH + "/{id}"
PROBLEM = "Problem"

WHOLE: Json = {"type": "string", "pattern": "^[0-9]{1,20}$"}
HTTP_DATE: Json = {
    "type": "string",
    "pattern": r"^[A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT$",
}
FLAG: Json = {"type": "string", "enum": ["?0", "?1"]}
# `key base64,key2 base64,key3` (a key may come without a value).
METADATA: Json = {
    "type": "string",
    "pattern": r"^[^ ,]+( [A-Za-z0-9+/=]*)?(,[ ]*[^ ,]+( [A-Za-z0-9+/=]*)?)*$",
}
# RFC 9530 dictionary: crc32c, sha or sha-256 as byte sequences (`sha-256=:base64:`).
STRUCTURED_DIGEST: Json = {
    "type": "string",
    "pattern": r"^[a-z0-9-]+=:[A-Za-z0-9+/=]*:(\s*,\s*[a-z0-9-]+=:[A-Za-z0-9+/=]*:)*$",
}
SCHEMAS: Json = {
    PROBLEM: {
        "description": "The draft's errors (RFC 9457): its problem types for a mismatching "
        "offset or an inconsistent length, else a title and the status",
        "type": "object",
        "required": ["title"],
        "properties": {
            "type": {"type": "string", "format": "uri"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "expected-offset": {"type": "integer", "minimum": 0},
            "provided-offset": {"type": "integer", "minimum": 0},
        },
        "additionalProperties": False,
    }
}


def _in(name: str, schema: Json, description: str, required: bool = False) -> Json:
    return {
        "name": name,
        "in": "header",
        "required": required,
        "description": description,
        "schema": schema,
    }


def _out(schema: Json, description: str, required: bool = False) -> Json:
    return {"description": description, "required": required, "schema": schema}


TUS_RESUMABLE = _in(
    "Tus-Resumable",
    {"type": "string", "enum": [TUS_VERSION]},
    "tus: required on every request but OPTIONS (412 otherwise); draft requests leave it out",
)
INTEROP = _in(
    "Upload-Draft-Interop-Version",
    {"type": "string", "enum": list(INTEROP_VERSIONS)},
    "draft: its presence makes the request a draft one (tus-js-client's ietf-draft-05 sends 6)",
)
UPLOAD_LENGTH = _in(
    "Upload-Length",
    WHOLE,
    "the whole upload's size in bytes; on an append, declares a deferred length",
)
UPLOAD_OFFSET = _in(
    "Upload-Offset", WHOLE, "where the body goes: the upload's offset (409 otherwise)", True
)
UPLOAD_CHECKSUM = _in(
    "Upload-Checksum",
    {
        "type": "string",
        "pattern": "^(" + "|".join(TUS_ALGORITHMS) + r") [A-Za-z0-9+/=]+$",
    },
    "tus checksum extension: `<algorithm> <base64 digest>` of the body (460 if it differs)",
)
UPLOAD_COMPLETE = _in(
    "Upload-Complete",
    FLAG,
    "draft: ?1 when this body ends the upload (required on creation and appends)",
)
CONTENT_DIGEST = _in(
    "Content-Digest", STRUCTURED_DIGEST, "draft: the body's digest (crc32c, sha, sha-256)"
)
REPR_DIGEST = _in(
    "Repr-Digest",
    STRUCTURED_DIGEST,
    "draft: the whole file's digest, checked when the upload completes",
)
CREATE_ONLY = [
    _in(
        "Upload-Metadata",
        METADATA,
        "tus: `key base64value` pairs; `filename`, `filetype`, `parent_folder_id` and "
        "`drive_id` say where the file goes, all pairs are kept (draft requests may send it too)",
    ),
    _in(
        "Upload-Defer-Length",
        {"type": "string", "enum": ["1"]},
        "tus: the size is not known yet (send it later as Upload-Length on an append)",
    ),
    _in(
        "Upload-Concat",
        {"type": "string", "pattern": r"^(partial|final;\S+( \S+)*)$"},
        "tus concatenation: `partial` for a piece, `final;<url> <url> …` to join pieces into "
        "the file",
    ),
    _in(
        "Content-Disposition",
        {"type": "string"},
        "draft: the file's name (`filename=…`) when no Upload-Metadata filename is sent",
    ),
]

# Response headers.
R_TUS = _out({"type": "string", "enum": [TUS_VERSION]}, "tus answers")
R_INTEROP = _out({"type": "string", "pattern": "^[0-9]{1,3}$"}, "draft answers")
R_LIMIT = _out(
    {"type": "string", "pattern": r"^[a-z-]+=[0-9]+(, [a-z-]+=[0-9]+)*$"},
    "draft answers: min-size, max-size (the largest file admitted) and, for an upload, "
    "max-age (seconds left before it expires)",
)
R_OFFSET = _out(WHOLE, "the bytes received from the start")
R_LENGTH = _out(WHOLE, "the upload's size, when known")
R_COMPLETE = _out(FLAG, "draft answers: ?1 once the upload is a file")
R_EXPIRES = _out(HTTP_DATE, "tus expiration: when an unfinished upload is dropped")
R_LOCATION = _out({"type": "string", "format": "uri"}, "the upload's URL, /uploads/<id>")
R_CACHE = _out({"type": "string", "enum": ["no-store"]}, "answers about an upload are not cached")
DRAFT_HEADERS = {"Upload-Draft-Interop-Version": R_INTEROP, "Upload-Limit": R_LIMIT}
BOTH_BODIES: Json = {
    "text/plain": {"schema": {"type": "string", "pattern": "^[a-z-]+: "}},
    "application/problem+json": {"schema": {"$ref": doc.REF.format(model=PROBLEM)}},
}
ERRORS = {
    "400": "invalid input: a header's value, a missing Upload-Complete, an inconsistent length",
    "401": "no valid API key",
    "403": "the upload is finished, finishing or terminated: nothing more may be appended",
    "404": "no such upload",
    "409": "Upload-Offset is not the upload's offset (draft: the mismatching-upload-offset "
    "problem type, with the expected offset)",
    "412": "tus: Tus-Resumable missing or not 1.0.0 (the answer names Tus-Version)",
    "413": "larger than the largest file or part admitted, or over quota",
    "415": "an append whose body is not application/offset+octet-stream (tus) or "
    "application/partial-upload (draft)",
    "423": "another append to the upload is under way: retry (Retry-After)",
    "460": "tus checksum extension: the body does not match Upload-Checksum",
}


def _error(status: str, description: str) -> Json:
    headers: Json = {"Tus-Resumable": R_TUS, **DRAFT_HEADERS}
    if status == "412":
        headers["Tus-Version"] = _out({"type": "string"}, "the tus versions served", True)
    if status == "423":
        headers["Retry-After"] = _out(WHOLE, "seconds to wait", True)
    content = dict(BOTH_BODIES)
    if status in ("412", "460"):  # tus only
        content.pop("application/problem+json")
    return {"description": description, "headers": headers, "content": content}


def _errors(*statuses: str) -> Json:
    found = {s: _error(s, ERRORS[s]) for s in statuses}
    found["default"] = _error("default", "tus: text/plain `<type>: <message>`; draft: problem+json")
    return found


def _op(op_id: str, summary: str, params: list[Json], responses: Json, **more: Any) -> Json:
    return {
        "operationId": op_id,
        "summary": summary,
        "tags": ["resumable uploads (tus, IETF draft)"],
        "parameters": params,
        "responses": responses,
        **more,
    }


def _options(op_id: str, params: list[Json]) -> Json:
    tus_only = {
        "Tus-Version": _out({"type": "string", "enum": [TUS_VERSION]}, "tus answers"),
        "Tus-Extension": _out(
            {"type": "string", "pattern": "^[a-z-]+(,[a-z-]+)*$"},
            "tus answers: " + ",".join(EXTENSIONS),
        ),
        "Tus-Checksum-Algorithm": _out(
            {"type": "string", "pattern": "^[a-z0-9-]+(,[a-z0-9-]+)*$"},
            "tus answers: " + ",".join(TUS_ALGORITHMS),
        ),
    }
    return _op(
        op_id,
        "Capabilities: tus versions, extensions and checksum algorithms, or the draft's limits",
        [*params, TUS_RESUMABLE, INTEROP],
        {
            "200": {
                "description": "200, not 204 (some browsers refuse a 204 preflight)",
                "headers": {"Tus-Resumable": R_TUS, **tus_only, **DRAFT_HEADERS},
            }
        },
        security=[],
    )


def _binary(*media: str, required: bool) -> Json:
    binary = {"schema": {"type": "string", "format": "binary"}}
    return {"required": required, "content": {m: binary for m in media}}


def tus_paths() -> Json:
    tenancy = doc.TENANCY
    created = {
        "Location": {**R_LOCATION, "required": True},
        "Tus-Resumable": R_TUS,
        "Upload-Expires": _out(HTTP_DATE, "tus answers: when the upload expires unfinished"),
        "Upload-Offset": _out(
            WHOLE, "the bytes stored from this request's body (tus creation-with-upload; draft)"
        ),
        "Upload-Complete": R_COMPLETE,
        "Cache-Control": R_CACHE,
        **DRAFT_HEADERS,
    }
    appended = {
        "Upload-Offset": {**R_OFFSET, "required": True},
        "Tus-Resumable": R_TUS,
        "Upload-Complete": R_COMPLETE,
        "Cache-Control": R_CACHE,
        **DRAFT_HEADERS,
    }
    errors = _errors("400", "401", "403", "404", "409", "412", "413", "415", "423", "460")
    create = _op(
        "uploadsCreate",
        "Create an upload (tus creation, with upload, deferred length, concatenation; draft "
        "creation with Upload-Complete)",
        [
            *tenancy,
            TUS_RESUMABLE,
            INTEROP,
            UPLOAD_LENGTH,
            *CREATE_ONLY,
            UPLOAD_CHECKSUM,
            UPLOAD_COMPLETE,
            CONTENT_DIGEST,
            REPR_DIGEST,
        ],
        {
            "104": {
                "description": "draft: Upload Resumption Supported, sent before the body is "
                "read, where the HTTP version allows",
                "headers": {
                    "Location": {**R_LOCATION, "required": True},
                    "Upload-Draft-Interop-Version": {**R_INTEROP, "required": True},
                },
            },
            "201": {
                "description": "created; the file exists once its last byte is in",
                "headers": created,
            },
            **errors,
        },
        requestBody=_binary(OFFSET_OCTET_STREAM, PARTIAL_UPLOAD, "*/*", required=False),
    )
    head = _op(
        "uploadsHead",
        "An upload's offset (tus: 200; draft: 204)",
        [doc.ID, *tenancy, TUS_RESUMABLE, INTEROP],
        {
            "200": {
                "description": "tus",
                "headers": {
                    "Tus-Resumable": {**R_TUS, "required": True},
                    "Upload-Offset": {**R_OFFSET, "required": True},
                    "Upload-Length": R_LENGTH,
                    "Upload-Defer-Length": _out(
                        {"type": "string", "enum": ["1"]}, "the size is not known yet"
                    ),
                    "Upload-Metadata": _out(METADATA, "the pairs sent at creation"),
                    "Upload-Expires": {**R_EXPIRES, "required": True},
                    "Cache-Control": {**R_CACHE, "required": True},
                },
            },
            "204": {
                "description": "draft",
                "headers": {
                    "Upload-Offset": {**R_OFFSET, "required": True},
                    "Upload-Complete": {**R_COMPLETE, "required": True},
                    "Upload-Length": R_LENGTH,
                    "Cache-Control": {**R_CACHE, "required": True},
                    **{k: {**v, "required": True} for k, v in DRAFT_HEADERS.items()},
                },
            },
            **_errors("400", "401", "404", "412"),
        },
    )
    append = _op(
        "uploadsAppend",
        "Append at Upload-Offset (tus: 204; draft: 204, or 200 when Upload-Complete: ?1)",
        [
            doc.ID,
            *tenancy,
            TUS_RESUMABLE,
            INTEROP,
            UPLOAD_OFFSET,
            UPLOAD_LENGTH,
            UPLOAD_CHECKSUM,
            UPLOAD_COMPLETE,
            CONTENT_DIGEST,
            REPR_DIGEST,
        ],
        {
            "200": {"description": "draft: the upload is complete, a file", "headers": appended},
            "204": {"description": "appended", "headers": appended},
            **errors,
        },
        requestBody=_binary(OFFSET_OCTET_STREAM, PARTIAL_UPLOAD, required=True),
    )
    terminate = _op(
        "uploadsTerminate",
        "Terminate an unfinished upload (tus termination; draft cancellation)",
        [doc.ID, *tenancy, TUS_RESUMABLE, INTEROP],
        {
            "204": {
                "description": "terminated",
                "headers": {"Tus-Resumable": R_TUS, **DRAFT_HEADERS},
            },
            **_errors("400", "401", "403", "404", "412"),
        },
    )
    override = _op(
        "uploadsOverride",
        "tus: PATCH, DELETE or HEAD sent as POST with X-HTTP-Method-Override (for proxies "
        "that drop PATCH); a draft POST here appends",
        [
            doc.ID,
            *tenancy,
            _in(
                "X-HTTP-Method-Override",
                {"type": "string", "enum": ["PATCH", "DELETE", "HEAD"]},
                "tus: the method meant",
            ),
            TUS_RESUMABLE,
            INTEROP,
            {**UPLOAD_OFFSET, "required": False},
            UPLOAD_LENGTH,
            UPLOAD_CHECKSUM,
            UPLOAD_COMPLETE,
        ],
        {
            "200": {
                "description": "HEAD overridden (tus); a complete append (draft)",
                "headers": {
                    name: {**header, "required": False}
                    for name, header in {**appended, **head["responses"]["200"]["headers"]}.items()
                },
            },
            "204": {
                "description": "PATCH or DELETE overridden",
                "headers": {**appended, "Upload-Offset": R_OFFSET},
            },
            **errors,
        },
        requestBody=_binary(OFFSET_OCTET_STREAM, PARTIAL_UPLOAD, required=False),
    )
    return {
        PATH: {"options": _options("uploadsOptions", []), "post": create},
        ITEM: {
            "options": _options("uploadOptions", [doc.ID]),
            "head": head,
            "patch": append,
            "delete": terminate,
            "post": override,
        },
    }
