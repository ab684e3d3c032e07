"""partway extension: the part URLs partway serves itself for direct sessions on a store
clients cannot reach (local disk; domain/signed_parts.py). `PUT /signed/parts/{id}/{n}?…`
needs no credentials: the signature names the tenant, the session and the part, and expires."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..domain.digests import parse_digest
from ..domain.errors import DomainError, NotFound
from ..domain.models import Tenant
from ..domain.signed_parts import PATH
from .context import services_of
from .errors import domain_error
from .render import envelope
from .sessions import write_part


async def signed_part(request: Request) -> Response:
    try:
        return await _write(request)
    except DomainError as exc:
        return await domain_error(request, exc)


async def _write(request: Request) -> Response:
    services = services_of(request)
    query = request.query_params
    session_id = request.path_params["id"]
    raw_number = request.path_params["number"]
    if not (raw_number.isascii() and raw_number.isdigit() and len(raw_number) <= 5):
        raise NotFound("this part URL is not valid")
    number = int(raw_number)
    tenant = Tenant(query.get("app_id", ""), query.get("consumer_id", ""))
    crc = query.get("crc32c", "")
    served = services.catalog.direct.served
    served.check(
        session_id, number, tenant, query.get("expires", ""), crc, query.get("signature", "")
    )
    # A claimed CRC32C is checked as the bytes stream in, like a proxied part's digest.
    digest = parse_digest(f"crc32c={crc}") if crc else None
    session = await write_part(request, services.uploads, tenant, session_id, number, digest)
    data = {"id": session.id}
    return envelope(request, 200, session.service_id, "UploadSessions", "upload", data)


routes = [Route(PATH + "/{id}/{number}", signed_part, methods=["PUT"])]
