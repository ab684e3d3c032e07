"""Short-lived signed download URLs: what `x-apideck-follow-redirects: false` answers, usable
without credentials until `expires_at`.

The URL carries the file id, its expiry and HMAC(secret, file id, tenant, expiry); the tenant
is not in the URL but in the signature, checked against the file's own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..domain.errors import DomainError, LinkRefused, NotFound
from ..domain.models import EntryKind
from ..wire import format_time
from .context import Caller, services_of
from .delivery import send_file
from .errors import domain_error

PURPOSE = "download"
TTL = timedelta(minutes=5)
PATH = "/signed/files"


async def signed_url_answer(request: Request, who: Caller, file_id: str) -> Response:
    entry = await who.services.files.get(who.tenant, file_id, EntryKind.FILE)
    expires = int((datetime.now(UTC) + TTL).timestamp())
    tenant = entry.tenant
    tag = who.services.catalog.signer.sign(
        PURPOSE, entry.id, tenant.app_id, tenant.consumer_id, str(expires)
    )
    base = str(request.base_url).rstrip("/")
    url = f"{base}{PATH}/{entry.id}?expires={expires}&signature={tag}"
    at = format_time(datetime.fromtimestamp(expires, UTC))
    return JSONResponse({"url": url, "expires_at": at})


async def signed_download(request: Request) -> Response:
    try:
        return await _deliver(request)
    except DomainError as exc:
        return await domain_error(request, exc)


async def _deliver(request: Request) -> Response:
    services = services_of(request)
    unknown = NotFound("this download link is not valid")
    raw_expires = request.query_params.get("expires", "")
    tag = request.query_params.get("signature", "")
    if not raw_expires.isascii() or not raw_expires.isdigit() or len(raw_expires) > 12:
        raise unknown
    entry = await services.catalog.links.entry_anywhere(request.path_params["id"])
    if entry is None or entry.kind is not EntryKind.FILE:
        raise unknown
    tenant = entry.tenant
    if not services.catalog.signer.verify(
        tag, PURPOSE, entry.id, tenant.app_id, tenant.consumer_id, raw_expires
    ):
        raise unknown
    if int(raw_expires) <= datetime.now(UTC).timestamp():
        raise LinkRefused("this download link has expired")
    return await send_file(request, services.files, tenant, entry)


routes = [Route(PATH + "/{id}", signed_download, methods=["GET", "HEAD"])]
