"""The routes Uppy's S3 plugin (`@uppy/aws-s3` 6.x, Companion mode) calls, over partway's
direct sessions (domain/companion.py):

POST   /s3/multipart                          {filename, type, metadata} → {key, uploadId}
GET    /s3/multipart/{uploadId}/{partNumber}?key=   → {url, expires}: a presigned UploadPart URL
GET    /s3/multipart/{uploadId}?key=          → [{PartNumber, Size, ETag}] the store holds
POST   /s3/multipart/{uploadId}/complete?key= {parts: [{PartNumber, ETag}]} → {location, key}
DELETE /s3/multipart/{uploadId}?key=          → {}
GET    /s3/params?filename=&type=&metadata[…]=   → {method, url, fields, headers, expires}: a
                                              whole-file upload, POSTed as a form to a URL
                                              partway signs and serves (http/form_uploads.py)

The file goes to `metadata.parent_folder_id` (root by default; `metadata.drive_id` too).

Authentication. These routes take the Apideck key and tenancy headers like every other route.
The 6.x plugin sends none (its Companion client calls plain `fetch(companionEndpoint + path)`),
so an authenticated `POST /companion/grants` hands out a companion endpoint for the plugin,
`/companion/{grant}`, under which the same routes answer for that tenant and service until the
grant expires or the key it was made with is revoked: an HMAC-signed, expiring capability, like
the signed download URLs."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import Field, StrictInt, StrictStr
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..domain.errors import InvalidInput, NotFound, Unauthorized
from ..domain.keys import hash_key
from ..domain.models import Tenant
from ..wire import format_time
from . import params
from .bodies import Strict
from .context import Caller, bearer_token, caller, services_of

PURPOSE = "s3-companion"
GRANT_TTL = timedelta(hours=1)
MAX_GRANT_TTL = timedelta(days=1)
GRANTS_PATH = "/companion/grants"
GRANT_PREFIX = "/companion/{grant}"


class CreateMultipart(Strict):
    filename: StrictStr = Field(min_length=1)
    type: StrictStr | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class ListedPart(Strict):
    PartNumber: StrictInt = Field(ge=1)
    ETag: StrictStr


class CompleteMultipart(Strict):
    parts: list[ListedPart] = Field(max_length=10_000)


class GrantRequest(Strict):
    expires_in: StrictInt = Field(
        default=int(GRANT_TTL.total_seconds()), ge=60, le=int(MAX_GRANT_TTL.total_seconds())
    )


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _unb64(text: str) -> str:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()


async def grant(request: Request) -> Response:
    """A companion endpoint for the caller's tenant and service, usable without headers."""
    who = await caller(request)
    body = await params.json_body(request, GrantRequest)
    expires = int(datetime.now(UTC).timestamp()) + body.expires_in
    # The key's hash binds the grant to the key: revoking the key ends the grant too.
    key_hash = hash_key(bearer_token(request.headers.get("authorization")) or "")
    fields = (who.tenant.app_id, who.tenant.consumer_id, who.service_id, key_hash, str(expires))
    tag = who.services.catalog.signer.sign(PURPOSE, *fields)
    token = ".".join([str(expires), *(_b64(f) for f in fields[:3]), key_hash, tag])
    base = str(request.base_url).rstrip("/")
    at = format_time(datetime.fromtimestamp(expires, UTC))
    return JSONResponse({"companion_endpoint": f"{base}/companion/{token}", "expires_at": at})


async def _granted(request: Request, token: str) -> Caller:
    services = services_of(request)
    refused = Unauthorized("this companion endpoint is not valid")
    pieces = token.split(".")
    if len(pieces) != 6 or not pieces[0].isdigit() or len(pieces[0]) > 12:
        raise refused
    expires, key_hash, tag = pieces[0], pieces[4], pieces[5]
    try:
        app_id, consumer_id, service_id = (_unb64(p) for p in pieces[1:4])
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise refused from None
    fields = (app_id, consumer_id, service_id, key_hash, expires)
    if not services.catalog.signer.verify(tag, PURPOSE, *fields):
        raise refused
    if int(expires) <= datetime.now(UTC).timestamp():
        raise Unauthorized("this companion endpoint has expired: ask for a new one")
    if await services.keys.app_of_key_hash(key_hash) != app_id:
        raise Unauthorized("the API key this companion endpoint was made with is revoked")
    services.uploads.storage(service_id)
    return Caller(services, Tenant(app_id=app_id, consumer_id=consumer_id), service_id)


async def _who(request: Request) -> Caller:
    token = request.path_params.get("grant")
    return await caller(request) if token is None else await _granted(request, token)


def _upload_id(request: Request) -> str:
    """The session id the plugin calls uploadId, with the `key` it must send alongside (the
    same opaque id: a key of another upload names no upload)."""
    upload_id: str = request.path_params["upload_id"]
    key = request.query_params.get("key")
    if not key:
        raise InvalidInput("query parameter key is required")
    if key != upload_id:
        raise NotFound(f"no S3 multipart upload {upload_id!r} with key {key!r}")
    return upload_id


def _meta_text(metadata: dict[str, Any], name: str) -> str | None:
    """A metadata field partway reads (the plugin sends every meta field of the file)."""
    value = metadata.get(name)
    if value is not None and (not isinstance(value, str) or not value):
        raise InvalidInput(f"metadata.{name} must be a non-empty string")
    return value


async def create(request: Request) -> Response:
    who = await _who(request)
    body = await params.json_body(request, CreateMultipart)
    folder = _meta_text(body.metadata, "parent_folder_id") or "root"
    drive = _meta_text(body.metadata, "drive_id")
    session = await who.services.catalog.companion.create(
        who.tenant, who.service_id, body.filename, folder, drive
    )
    return JSONResponse({"key": session.id, "uploadId": session.id})


async def sign_part(request: Request) -> Response:
    who = await _who(request)
    upload_id = _upload_id(request)
    raw = request.path_params["part_number"]
    if not raw.isascii() or not raw.isdigit() or len(raw) > 6:
        raise InvalidInput(f"part number {raw!r} is not a whole number")
    signed = await who.services.catalog.companion.sign(who.tenant, upload_id, int(raw))
    seconds = max(0, int((signed.expires - datetime.now(UTC)).total_seconds()))
    return JSONResponse({"url": signed.url, "expires": seconds})


async def list_parts(request: Request) -> Response:
    who = await _who(request)
    found = await who.services.catalog.companion.parts(who.tenant, _upload_id(request))
    return JSONResponse([{"PartNumber": p.number, "Size": p.size, "ETag": p.etag} for p in found])


async def complete(request: Request) -> Response:
    who = await _who(request)
    upload_id = _upload_id(request)
    body = await params.json_body(request, CompleteMultipart)
    listed = [(p.PartNumber, p.ETag) for p in body.parts]
    entry = await who.services.catalog.companion.complete(who.tenant, upload_id, listed)
    base = str(request.base_url).rstrip("/")
    location = f"{base}/file-storage/files/{entry.id}"
    return JSONResponse({"location": location, "key": upload_id, "file_id": entry.id})


async def abort(request: Request) -> Response:
    who = await _who(request)
    await who.services.catalog.companion.abort(who.tenant, _upload_id(request))
    return JSONResponse({})


async def upload_params(request: Request) -> Response:
    """A whole-file upload (the plugin's path for files it sends in one request): a session
    and the partway-signed URL the plugin POSTs the file to as a form (http/form_uploads.py),
    which finishes the session once the file is in."""
    who = await _who(request)
    query = request.query_params
    filename = query.get("filename")
    if not filename:
        raise InvalidInput("query parameter filename is required")
    metadata = {
        name[len("metadata[") : -1]: query[name]
        for name in query
        if name.startswith("metadata[") and name.endswith("]")
    }
    folder = _meta_text(metadata, "parent_folder_id") or "root"
    drive = _meta_text(metadata, "drive_id")
    ticket = await who.services.catalog.forms.create(
        who.tenant, who.service_id, filename, folder, drive, query.get("type")
    )
    base = str(request.base_url).rstrip("/")
    seconds = max(0, int((ticket.expires - datetime.now(UTC)).total_seconds()))
    answer = {
        "method": "POST",
        "url": base + ticket.url,
        "fields": ticket.fields,
        "headers": {},
        "expires": seconds,
    }
    return JSONResponse(answer)


def _routes(prefix: str) -> list[Route]:
    multipart = prefix + "/s3/multipart"
    one = multipart + "/{upload_id}"
    return [
        Route(multipart, create, methods=["POST"]),
        Route(one + "/complete", complete, methods=["POST"]),
        Route(one + "/{part_number}", sign_part, methods=["GET"]),
        Route(one, list_parts, methods=["GET"]),
        Route(one, abort, methods=["DELETE"]),
        Route(prefix + "/s3/params", upload_params, methods=["GET"]),
    ]


routes = [Route(GRANTS_PATH, grant, methods=["POST"]), *_routes(""), *_routes(GRANT_PREFIX)]
