"""The IETF "Resumable Uploads for HTTP" draft (interop versions 6 to 8) at /uploads, over the
same sessions and helpers as the tus front: creation with `Upload-Complete`, appends as
`application/partial-upload`, offsets by HEAD, cancellation, the draft's problem types, and
`Content-Digest` / `Repr-Digest` (crc32c, sha, sha-256) mapped onto partway's digests. A create
answers `104 Upload Resumption Supported` with the upload's URL before its body is read, where
the HTTP protocol can send it (http/interim.py)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..domain import errors as e
from ..domain.appends import (
    AppendRule,
    LengthMismatch,
    OffsetMismatch,
    contiguous_end,
    declare_length,
)
from ..domain.digests import parse_structured_digest
from ..domain.models import SessionState, UploadSession
from . import params, supersede, tus
from .context import Caller, caller
from .interim import send_interim
from .tus_errors import TUS, UnsupportedMediaType
from .tus_wire import parse_metadata, whole

INTEROP_VERSIONS = ("6", "7", "8")
PARTIAL_UPLOAD = "application/partial-upload"
PROBLEM_TYPES = "https://iana.org/assignments/http-problem-types#"
_FILENAME = re.compile(r'filename\*?=(?:UTF-8\'\')?"?([^";]+)"?', re.IGNORECASE)


def interop_version(request: Request) -> str | None:
    return request.headers.get("upload-draft-interop-version")


def base_headers(request: Request, session: UploadSession | None = None) -> dict[str, str]:
    headers = {
        "Upload-Draft-Interop-Version": interop_version(request) or INTEROP_VERSIONS[-1],
        "Cache-Control": "no-store",
    }
    headers["Upload-Limit"] = upload_limit(request, session)
    return headers


def upload_limit(request: Request, session: UploadSession | None) -> str:
    """`Upload-Limit`: the largest file admitted, and the session's time left (max-age)."""
    limits = [] if session is not None else ["min-size=0"]
    largest = request.app.state.services.uploads.admission.limits.max_file_size
    if largest is not None:
        limits.append(f"max-size={largest}")
    if session is not None:
        left = session.expires_at - datetime.now(UTC)
        limits.append(f"max-age={max(0, int(left.total_seconds()))}")
    return ", ".join(limits)


def complete_flag(request: Request) -> bool | None:
    """`Upload-Complete: ?1/?0`, or interop 3's inverse `Upload-Incomplete`."""
    raw = request.headers.get("upload-complete")
    if raw is None and (old := request.headers.get("upload-incomplete")) is not None:
        raw = "?0" if old.strip() == "?1" else "?1"
    if raw is None:
        return None
    if raw.strip() not in ("?0", "?1"):
        raise e.InvalidInput("Upload-Complete must be ?0 or ?1")
    return raw.strip() == "?1"


async def options(request: Request) -> Response:
    return Response(status_code=200, headers=base_headers(request))


async def create(request: Request) -> Response:
    who = await caller(request)
    complete = complete_flag(request)
    if complete is None:
        raise e.InvalidInput("a creation request needs Upload-Complete")
    length = params.content_length(request) or 0
    size = whole(request.headers.get("upload-length"), "Upload-Length")
    if complete:
        if size is not None and size != length:
            raise LengthMismatch(f"Upload-Length {size} but the complete body is {length} bytes")
        size = length
    metadata = parse_metadata(request.headers.get("upload-metadata"))
    named = _FILENAME.search(request.headers.get("content-disposition", ""))
    if named and "filename" not in metadata:
        metadata["filename"] = named.group(1)
    uploads = who.services.uploads
    if not uploads.takes_appends(who.service_id):
        raise e.OperationUnsupported(
            "resumable uploads need a store that writes in place (local disk) or keeps tails (S3)"
        )
    session = await uploads.create(who.tenant, who.service_id, tus.new_session(metadata, size))
    url = tus.upload_url(request, session.id)
    # Before the body is read: a client cut off mid-body knows where to resume.
    version = interop_version(request) or INTEROP_VERSIONS[-1]
    resumption = {"Location": url, "Upload-Draft-Interop-Version": version}
    send_interim(request, 104, "Upload Resumption Supported", resumption)
    offset = 0
    if length or complete:
        offset = await append(request, who, session.id, 0, complete)
    headers = {**base_headers(request, session), "Location": url, "Upload-Offset": str(offset)}
    headers["Upload-Complete"] = "?1" if complete else "?0"
    return Response(status_code=201, headers=headers)


async def head(request: Request) -> Response:
    who = await caller(request)
    await supersede.of(request).stop_older(
        request.path_params["id"]
    )  # else the offset may move after this answer
    session = await who.services.uploads.get(who.tenant, request.path_params["id"])
    finished = session.state is SessionState.FINISHED
    offset = await tus.offset_of(who, session) if finished else contiguous_end(session.ranges)
    headers = {**base_headers(request, session), "Upload-Offset": str(offset)}
    headers["Upload-Complete"] = "?1" if finished else "?0"
    if session.size is not None:
        headers["Upload-Length"] = str(session.size)
    return Response(status_code=204, headers=headers)


async def patch(request: Request) -> Response:
    who = await caller(request)
    if request.headers.get("content-type", PARTIAL_UPLOAD).split(";")[0] != PARTIAL_UPLOAD:
        raise UnsupportedMediaType(f"an append's body must be {PARTIAL_UPLOAD}")
    offset = whole(request.headers.get("upload-offset"), "Upload-Offset")
    complete = complete_flag(request)
    if offset is None or complete is None:
        raise e.InvalidInput("an append needs Upload-Offset and Upload-Complete")
    session_id = request.path_params["id"]
    end = await append(request, who, session_id, offset, complete)
    session = await who.services.uploads.get(who.tenant, session_id, with_ranges=False)
    headers = {**base_headers(request, session), "Upload-Offset": str(end)}
    headers["Upload-Complete"] = "?1" if complete else "?0"
    return Response(status_code=200 if complete else 204, headers=headers)


async def append(
    request: Request, who: Caller, session_id: str, offset: int, complete: bool
) -> int:
    """Append the body at `offset`; a complete one ends the upload and makes the file."""
    uploads = who.services.uploads
    declared = whole(request.headers.get("upload-length"), "Upload-Length")
    if declared is not None:  # stated on an append: kept, as a tus deferred length is
        await declare_length(uploads, who.tenant, session_id, declared)
    length = params.content_length(request)
    if complete and length is not None:
        declared = offset + length
    rule = AppendRule(offset, uploads.policy.max_part_size, declared)
    digest = parse_structured_digest(request.headers.get("content-digest"))
    if length != 0:
        await tus.write_body(request, who, session_id, rule, digest)
    session = await uploads.get(who.tenant, session_id)
    end = contiguous_end(session.ranges)
    if complete:
        if session.size is not None and end != session.size:
            raise LengthMismatch(f"the upload is {session.size} bytes, {end} are in")
        whole_digest = parse_structured_digest(request.headers.get("repr-digest"))
        await uploads.finish(who.tenant, session_id, whole_digest)
    return end


async def cancel(request: Request) -> Response:
    who = await caller(request)
    await who.services.uploads.abort(who.tenant, request.path_params["id"])
    return Response(status_code=204, headers=base_headers(request))


def draft_error(request: Request, exc: e.DomainError) -> Response:
    """The draft's problem types as problem+json; everything else as the tus front answers."""
    if isinstance(exc, OffsetMismatch):
        body: dict[str, object] = {
            "type": PROBLEM_TYPES + "mismatching-upload-offset",
            "title": "offset from request does not match offset of resource",
            "expected-offset": exc.expected,
            "provided-offset": exc.provided,
        }
        status = 409
    elif isinstance(exc, LengthMismatch):
        body = {"type": PROBLEM_TYPES + "inconsistent-upload-length", "title": exc.message}
        status = 400
    else:
        answer = TUS.answer(exc)
        status = 400 if answer.status == 460 else answer.status
        body = {"title": exc.message, "status": status}
    headers = base_headers(request)
    response = JSONResponse(body, status_code=status, headers=headers)
    response.headers["content-type"] = "application/problem+json"
    return response
