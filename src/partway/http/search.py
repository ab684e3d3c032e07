"""POST /file-storage/files/search, and files.list with filter[shared]."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..domain.errors import InvalidInput, UnsupportedFilter
from ..domain.search import Scope, Search
from ..wire import FILES_PATH
from . import params
from .catalog_bodies import FilesSearch
from .context import Caller, caller
from .files import RESOURCE, rendered
from .render import page_envelope

SEARCH_FILTERS = ("filter[drive_id]", "filter[folder_id]", "filter[shared]")


def shared_filter(request: Request) -> bool:
    raw = request.query_params.get("filter[shared]", "false").strip().lower()
    if raw not in ("true", "false"):
        raise InvalidInput("filter[shared] must be true or false")
    return raw == "true"


async def search_files(request: Request) -> Response:
    """Names holding every word of `query`, in a drive, below filter[folder_id] at any depth."""
    who = await caller(request)
    query = request.query_params
    for key in query:
        if key.startswith("filter[") and key not in SEARCH_FILTERS:
            raise UnsupportedFilter(f"{key} is not supported here", {"unsupported": key})
    body = await params.json_body(request, FilesSearch)
    drive_id = body.drive_id or query.get("filter[drive_id]")
    scope = Scope(
        drive_id=drive_id, below=query.get("filter[folder_id]"), shared=shared_filter(request)
    )
    return await _page(
        request, who, Search(body.query, scope, query.get("cursor"), params.page_limit(request))
    )


async def shared_listing(request: Request, who: Caller) -> Response:
    """files.list with filter[shared]=true: entries with a live link, right inside
    filter[folder_id] if given, else anywhere in the drive."""
    query = request.query_params
    scope = Scope(
        drive_id=query.get("filter[drive_id]", "default"),
        inside=query.get("filter[folder_id]"),
        shared=True,
    )
    return await _page(
        request, who, Search("", scope, query.get("cursor"), params.page_limit(request))
    )


async def _page(request: Request, who: Caller, search: Search) -> Response:
    page = await who.services.catalog.search.search(who.tenant, search)
    data = [await rendered(who, who.tenant, e) for e in page.items]
    return page_envelope(request, who.service_id, RESOURCE, page, data)


routes = [Route(FILES_PATH + "/search", search_files, methods=["POST"])]
