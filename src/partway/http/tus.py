"""The tus v1.0.0 front at /uploads: creation (with upload, deferred length), HEAD offsets,
PATCH appends, termination, expiration and checksums, over the same upload sessions as the
Apideck API. An upload's URL is /uploads/<session id>; it becomes a file when its last byte
lands."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from ..domain.appends import AppendRule, contiguous_end, declare_length
from ..domain.concat import PARTIAL_PREFIX, concatenate, is_partial, partial_name
from ..domain.digests import TUS_ALGORITHMS, Digest, parse_tus_checksum
from ..domain.errors import InvalidInput, OperationUnsupported
from ..domain.models import ROOT_FOLDER_ID, NewSession, SessionState, UploadSession, new_id
from . import params, supersede
from .context import Caller, caller
from .socket_body import socket_body
from .tus_errors import UnsupportedMediaType, UnsupportedVersion
from .tus_wire import (
    EXTENSIONS,
    OFFSET_OCTET_STREAM,
    TUS_VERSION,
    file_type,
    format_metadata,
    http_date,
    parse_metadata,
    whole,
)

UPLOADS_PATH = "/uploads"
Handler = Callable[[Request], Awaitable[Response]]


def tus_headers(**more: str) -> dict[str, str]:
    return {"Tus-Resumable": TUS_VERSION, "Cache-Control": "no-store", **more}


def check_version(request: Request) -> None:
    sent = request.headers.get("tus-resumable")
    if request.method != "OPTIONS" and sent != TUS_VERSION:
        raise UnsupportedVersion(f"Tus-Resumable must be {TUS_VERSION}, got {sent!r}")


async def options(request: Request) -> Response:
    """Capability discovery: 200, not 204 (some browsers refuse a 204 preflight)."""
    headers = tus_headers(
        **{
            "Tus-Version": TUS_VERSION,
            "Tus-Extension": ",".join(EXTENSIONS),
            "Tus-Checksum-Algorithm": ",".join(TUS_ALGORITHMS),
        }
    )
    return Response(status_code=200, headers=headers)


async def create(request: Request) -> Response:
    if request.headers.get("x-http-method-override"):
        return await overridden(request)
    who = await caller(request)
    metadata = parse_metadata(request.headers.get("upload-metadata"))
    concat = request.headers.get("upload-concat", "").strip()
    if concat.startswith("final;"):
        return await create_final(request, who, concat.removeprefix("final;"), metadata)
    if concat not in ("", "partial"):
        raise InvalidInput("Upload-Concat must be partial or final;<upload URLs>")
    size = whole(request.headers.get("upload-length"), "Upload-Length")
    if size is None and request.headers.get("upload-defer-length") != "1":
        raise InvalidInput("send Upload-Length, or Upload-Defer-Length: 1")
    uploads = who.services.uploads
    if not uploads.takes_appends(who.service_id):
        # Refused before creating, so no session is left behind (the append would be refused).
        raise OperationUnsupported(
            "tus uploads need a store that writes in place (local disk) or keeps tails (S3)"
        )
    req = new_session(metadata, size)
    if concat == "partial":
        req = replace(req, name=partial_name(), parent_folder_id=ROOT_FOLDER_ID)
    session = await uploads.create(who.tenant, who.service_id, req)
    headers = tus_headers(Location=upload_url(request, session.id))
    headers["Upload-Expires"] = http_date(session.expires_at.astimezone(UTC))
    if request.headers.get("content-type") == OFFSET_OCTET_STREAM:
        offset = await append(request, who, session.id, 0)
        headers["Upload-Offset"] = str(offset)
    elif size == 0 and not concat:
        await uploads.finish(who.tenant, session.id, None)
    return Response(status_code=201, headers=headers)


def new_session(metadata: dict[str, str], size: int | None) -> NewSession:
    """tus metadata → where the file goes: `filename` (else a generated name),
    `parent_folder_id` (else the root), `drive_id` (else the default drive)."""
    name = metadata.get("filename") or new_id("upload")
    if name.startswith(PARTIAL_PREFIX):
        raise InvalidInput(f"file names starting with {PARTIAL_PREFIX!r} are reserved")
    folder = metadata.get("parent_folder_id") or ROOT_FOLDER_ID
    return NewSession(
        name,
        folder,
        size,
        metadata.get("drive_id"),
        mime_type=file_type(metadata),
        client_metadata=tuple(metadata.items()),
    )


async def create_final(
    request: Request, who: Caller, urls: str, metadata: dict[str, str]
) -> Response:
    """`Upload-Concat: final;<url> <url> …` (absolute or relative URLs of partial uploads)."""
    piece_ids = [piece_id(url) for url in urls.split()]
    if not piece_ids:
        raise InvalidInput("Upload-Concat: final names no partial uploads")
    req = new_session(metadata, None)
    session, _ = await concatenate(who.services.uploads, who.tenant, who.service_id, piece_ids, req)
    headers = tus_headers(Location=upload_url(request, session.id))
    return Response(status_code=201, headers=headers)


def piece_id(url: str) -> str:
    path = urlsplit(url).path.rstrip("/")
    head, _, last = path.rpartition("/")
    if not head.endswith(UPLOADS_PATH) or not last:
        raise InvalidInput(f"{url!r} is not the URL of an upload on this server")
    return last


def upload_url(request: Request, session_id: str) -> str:
    return str(request.base_url).rstrip("/") + f"{UPLOADS_PATH}/{session_id}"


async def head(request: Request) -> Response:
    who = await caller(request)
    await supersede.of(request).stop_older(
        request.path_params["id"]
    )  # else the offset may move after this answer
    session = await who.services.uploads.get(who.tenant, request.path_params["id"])
    offset = await offset_of(who, session)
    headers = tus_headers(**{"Upload-Offset": str(offset)})
    if session.size is not None:
        headers["Upload-Length"] = str(session.size)
    elif session.state is SessionState.FINISHED:
        headers["Upload-Length"] = str(offset)
    else:
        headers["Upload-Defer-Length"] = "1"
    sent = dict(session.client_metadata)
    if sent or not is_partial(session):  # the pairs sent at create (none before 0013: the name)
        headers["Upload-Metadata"] = format_metadata(sent or {"filename": session.name})
    headers["Upload-Expires"] = http_date(session.expires_at.astimezone(UTC))
    return Response(status_code=200, headers=headers)


async def offset_of(who: Caller, session: UploadSession) -> int:
    """Durable bytes from the start. An upload whose bytes are all in but which is not a file
    yet (its finish failed) is finished here, so a client that resumes sees it done."""
    if session.state is SessionState.FINISHED:
        if session.size is not None:
            return session.size
        entry = await who.services.uploads.finish(who.tenant, session.id, None)
        return entry.size or 0
    offset = contiguous_end(session.ranges)
    if session.size is not None and offset == session.size and not is_partial(session):
        await who.services.uploads.finish(who.tenant, session.id, None)
    return offset


async def patch(request: Request) -> Response:
    who = await caller(request)
    if request.headers.get("content-type") != OFFSET_OCTET_STREAM:
        raise UnsupportedMediaType(f"a PATCH body must be {OFFSET_OCTET_STREAM}")
    offset = whole(request.headers.get("upload-offset"), "Upload-Offset")
    if offset is None:
        raise InvalidInput("Upload-Offset is required")
    end = await append(request, who, request.path_params["id"], offset)
    headers = tus_headers(**{"Upload-Offset": str(end)})
    return Response(status_code=204, headers=headers)


async def append(request: Request, who: Caller, session_id: str, offset: int) -> int:
    """Append the request's body at `offset`; returns the new offset, the upload finished into
    its file if that was its last byte."""
    uploads = who.services.uploads
    declared = whole(request.headers.get("upload-length"), "Upload-Length")
    if declared is not None:
        await declare_length(uploads, who.tenant, session_id, declared)
    rule = AppendRule(offset, max_append=uploads.policy.max_part_size, declared_end=declared)
    digest = parse_tus_checksum(request.headers.get("upload-checksum"))
    await write_body(request, who, session_id, rule, digest)
    session = await uploads.get(who.tenant, session_id)
    end = contiguous_end(session.ranges)
    total = session.size if session.size is not None else rule.declared_end
    if total is not None and end == total and not is_partial(session):
        await uploads.finish(who.tenant, session_id, None)
    return end


async def write_body(
    request: Request, who: Caller, session_id: str, rule: AppendRule, digest: Digest | None
) -> None:
    """The request's body through the same bounded path as an Apideck part: straight from the
    socket when the edge offers it, else ASGI chunks under the same deadlines."""
    direct = socket_body(request.scope)

    async def still_connected() -> bool:
        if direct is None:
            return not await request.is_disconnected()
        direct.settle()
        return not direct.client_gone

    try:
        async with supersede.of(request).sole_append(session_id, direct):
            await who.services.uploads.write_range(
                who.tenant,
                session_id,
                rule,
                direct or params.body_stream(request),
                params.content_length(request),
                digest,
                still_connected,
            )
    finally:
        if direct is not None:
            direct.settle()


async def terminate(request: Request) -> Response:
    who = await caller(request)
    await who.services.uploads.abort(who.tenant, request.path_params["id"])
    return Response(status_code=204, headers=tus_headers())


async def overridden(request: Request) -> Response:
    """`X-HTTP-Method-Override` on a POST, for clients behind proxies that drop PATCH."""
    method = request.headers.get("x-http-method-override", "").upper()
    if "id" not in request.path_params or method not in _OVERRIDES:
        raise InvalidInput(f"X-HTTP-Method-Override {method!r} is not supported here")
    return await _OVERRIDES[method](request)


_OVERRIDES: dict[str, Handler] = {"PATCH": patch, "DELETE": terminate, "HEAD": head}
