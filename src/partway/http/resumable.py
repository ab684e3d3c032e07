"""/uploads: one creation endpoint for tus v1 (requests with `Tus-Resumable`) and the IETF
resumable-upload draft (requests with `Upload-Draft-Interop-Version`), as tusd serves both.
Each request goes to its protocol's handler and its errors are answered in that protocol."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from ..domain.errors import ClientGone, DomainError
from . import ietf, tus
from .tus_errors import tus_error

Handler = Callable[[Request], Awaitable[Response]]


def either(tus_handler: Handler, draft_handler: Handler) -> Handler:
    async def route(request: Request) -> Response:
        draft = ietf.interop_version(request) is not None
        try:
            if draft:
                return await draft_handler(request)
            tus.check_version(request)
            return await tus_handler(request)
        except ClientDisconnect:
            gone = ClientGone("the client closed the connection before its body was complete")
            return answer(request, draft, gone)
        except DomainError as exc:
            return answer(request, draft, exc)

    return route


def answer(request: Request, draft: bool, exc: DomainError) -> Response:
    return ietf.draft_error(request, exc) if draft else tus_error(request, exc)


PATH = tus.UPLOADS_PATH
ITEM = PATH + "/{id}"
routes = [
    Route(PATH, either(tus.options, ietf.options), methods=["OPTIONS"]),
    Route(PATH, either(tus.create, ietf.create), methods=["POST"]),
    Route(ITEM, either(tus.options, ietf.options), methods=["OPTIONS"]),
    Route(ITEM, either(tus.head, ietf.head), methods=["HEAD"]),
    Route(ITEM, either(tus.patch, ietf.patch), methods=["PATCH"]),
    Route(ITEM, either(tus.terminate, ietf.cancel), methods=["DELETE"]),
    Route(ITEM, either(tus.overridden, ietf.patch), methods=["POST"]),
]
