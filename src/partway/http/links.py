"""Routes of /file-storage/shared-links (API, tenant-scoped) and /s/{token} (public: the token
alone authorises it)."""

from __future__ import annotations

import base64
import binascii
import html
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from ..domain.errors import DomainError, PasswordRequired
from ..domain.links import LinkService, LinkSpec, Opened, SharedLink
from ..domain.models import Entry, EntryKind
from ..domain.search import Scope, Search
from ..services import ServerServices as Services
from ..wire import MAX_PAGE, SHARED_LINKS_PATH, format_time
from . import params
from .catalog_bodies import SharedLinkBody
from .context import caller, services_of
from .cutoff import while_allowed
from .delivery import send_file, starts_at_zero
from .errors import domain_error
from .passthrough import link_extensions
from .render import envelope, page_envelope

RESOURCE = "SharedLinks"
PUBLIC = "/s"
PASSWORD_HEADER = "x-partway-link-password"


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def link_json(request: Request, links: LinkService, link: SharedLink, entry: Entry | None) -> Any:
    url = f"{base_url(request)}{PUBLIC}/{links.token(link)}"
    is_file = entry is not None and entry.kind is EntryKind.FILE
    target: dict[str, Any] = {"id": link.target_id}
    if entry is not None:
        target.update(name=entry.name, type=entry.kind.value)
    return {
        "id": link.id,
        "url": url,
        "download_url": f"{url}?download=1" if is_file else None,
        "target": target,
        "scope": link.scope,
        "password_protected": link.password_hash is not None,
        "expires_at": format_time(link.expires_at) if link.expires_at else None,
        "max_downloads": link.max_downloads,
        "downloads": link.downloads,
        "created_at": format_time(link.created_at),
        "updated_at": format_time(link.updated_at),
    }


def spec_of(body: SharedLinkBody, service_id: str) -> LinkSpec:
    sent = body.model_fields_set
    extra = link_extensions(body.pass_through, service_id)
    values = {**body.model_dump(include={"expires_at", "max_downloads"} & sent), **extra}
    return LinkSpec(
        target_id=body.target_id,
        scope=body.scope,
        password=body.password,
        expires_at=values.get("expires_at"),
        max_downloads=values.get("max_downloads"),
        set_scope="scope" in sent,
        set_password="password" in sent,
        set_expires_at="expires_at" in values,
        set_max_downloads="max_downloads" in values,
    )


async def list_links(request: Request) -> Response:
    who = await caller(request)
    links = who.services.catalog.links
    page = await links.list(
        who.tenant, request.query_params.get("cursor"), params.page_limit(request)
    )
    data = [link_json(request, links, link, entry) for link, entry in page.items]
    return page_envelope(request, who.service_id, RESOURCE, page, data)


async def create_link(request: Request) -> Response:
    who = await caller(request)
    body = await params.json_body(request, SharedLinkBody)
    link, _ = await who.services.catalog.links.create(who.tenant, spec_of(body, who.service_id))
    return envelope(request, 201, who.service_id, RESOURCE, "add", {"id": link.id})


async def get_link(request: Request) -> Response:
    who = await caller(request)
    links = who.services.catalog.links
    link, entry = await links.get(who.tenant, request.path_params["id"])
    data = link_json(request, links, link, entry)
    return envelope(request, 200, who.service_id, RESOURCE, "one", data)


async def update_link(request: Request) -> Response:
    who = await caller(request)
    body = await params.json_body(request, SharedLinkBody)
    links = who.services.catalog.links
    link, _ = await links.update(
        who.tenant, request.path_params["id"], spec_of(body, who.service_id)
    )
    return envelope(request, 200, who.service_id, RESOURCE, "update", {"id": link.id})


async def delete_link(request: Request) -> Response:
    who = await caller(request)
    link_id = request.path_params["id"]
    await who.services.catalog.links.delete(who.tenant, link_id)
    return envelope(request, 200, who.service_id, RESOURCE, "delete", {"id": link_id})


# --- the public side: no API key, the token decides ----------------------------------------


def offered_password(request: Request) -> str | None:
    """From partway's header, or HTTP Basic (any user name): a browser asks for it itself.
    Both carry UTF-8; a value that is not UTF-8 (or Basic that is not base64) is no password."""
    if request.headers.get(PASSWORD_HEADER):
        # Header values arrive as latin-1 (ASGI): their bytes are the client's UTF-8.
        raw = request.headers[PASSWORD_HEADER].encode("latin-1")
    else:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            # ValueError: a str holding non-ASCII characters is no base64 at all.
            raw = base64.b64decode(encoded, validate=True).partition(b":")[2]
        except (binascii.Error, ValueError):
            return None
    try:
        return raw.decode() or None
    except UnicodeDecodeError:
        return None


async def _opened(request: Request) -> tuple[Services, Opened]:
    services = services_of(request)
    opened = await services.catalog.links.open(
        request.path_params["token"], offered_password(request)
    )
    return services, opened


async def _refusal(request: Request, exc: DomainError) -> Response:
    response = await domain_error(request, exc)
    if isinstance(exc, PasswordRequired):
        response.headers["WWW-Authenticate"] = 'Basic realm="partway shared link"'
    return response


async def _deliver(request: Request, services: Services, opened: Opened, entry: Entry) -> Response:
    attachment = request.query_params.get("download") == "1"
    # A link with a download limit takes no Range: ranges not from byte 0 are not counted (a
    # player seeking), so through them a limit of 1 gave the whole file any number of times.
    ranges = opened.link.max_downloads is None
    # Opened (and asked of the pre-access hook) before it counts: a refusal is no download.
    response = await send_file(
        request, services.files, opened.link.tenant, entry, attachment, opened.link.id, ranges
    )
    if starts_at_zero(request, ranges):
        await services.catalog.links.count_download(opened.link)
        services.catalog.link_downloads.inc()
    # Revoked, deleted or expired meanwhile: the download stops too (a used-up limit does not
    # stop the download that used it up).
    return while_allowed(request, response, lambda: services.catalog.links.still_open(opened.link))


async def public_link(request: Request) -> Response:
    try:
        services, opened = await _opened(request)
        if opened.target.kind is EntryKind.FILE:
            return await _deliver(request, services, opened, opened.target)
        return await _folder_page(request, services, opened)
    except DomainError as exc:
        return await _refusal(request, exc)


async def public_file_in_folder(request: Request) -> Response:
    try:
        services, opened = await _opened(request)
        entry = await services.catalog.links.file_below(opened, request.path_params["file_id"])
        return await _deliver(request, services, opened, entry)
    except DomainError as exc:
        return await _refusal(request, exc)


async def _folder_page(request: Request, services: Services, opened: Opened) -> Response:
    folder = opened.target
    scope = Scope(drive_id=folder.drive_id, below=folder.id)
    search = Search("", scope, request.query_params.get("cursor"), MAX_PAGE)
    page = await services.catalog.search.search(opened.link.tenant, search)
    token = request.path_params["token"]
    files = [e for e in page.items if e.kind is EntryKind.FILE]
    here = f"{base_url(request)}{PUBLIC}/{token}"
    listing = [
        {"id": e.id, "name": e.name, "size": e.size, "url": f"{here}/files/{e.id}"} for e in files
    ]
    next_url = f"{here}?cursor={quote(page.next_cursor)}" if page.next_cursor else None
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse({"name": folder.name, "files": listing, "next": next_url})
    return HTMLResponse(folder_html(folder.name, listing, next_url))


def folder_html(name: str, listing: list[dict[str, Any]], next_url: str | None) -> str:
    rows = "".join(
        f'<li><a href="{html.escape(f["url"])}?download=1">{html.escape(f["name"])}</a> '
        f"<small>{f['size']} bytes</small></li>"
        for f in listing
    )
    more = f'<p><a href="{html.escape(next_url)}">more</a></p>' if next_url else ""
    title = html.escape(name)
    return (
        f"<!doctype html><meta charset=utf-8><title>{title}</title>"
        f"<h1>{title}</h1><ul>{rows}</ul>{more}"
    )


routes = [
    Route(SHARED_LINKS_PATH, list_links, methods=["GET"]),
    Route(SHARED_LINKS_PATH, create_link, methods=["POST"]),
    Route(SHARED_LINKS_PATH + "/{id}", get_link, methods=["GET"]),
    Route(SHARED_LINKS_PATH + "/{id}", update_link, methods=["PATCH"]),
    Route(SHARED_LINKS_PATH + "/{id}", delete_link, methods=["DELETE"]),
    Route(PUBLIC + "/{token}", public_link, methods=["GET", "HEAD"]),
    Route(PUBLIC + "/{token}/files/{file_id}", public_file_in_folder, methods=["GET", "HEAD"]),
]
