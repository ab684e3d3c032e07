"""The one table from domain errors to (status, Apideck type name), and the error body."""

from __future__ import annotations

import errno
import logging
from collections.abc import Mapping
from http import HTTPStatus

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..domain import errors as e

log = logging.getLogger("partway.http")

ERROR_TABLE: dict[type[e.DomainError], tuple[int, str]] = {
    e.Unauthorized: (401, "UnauthorizedError"),
    e.MissingHeader: (400, "RequestHeadersValidationError"),
    e.DigestMismatch: (400, "RequestValidationError"),
    e.UnsupportedFilter: (400, "UnsupportedFiltersError"),
    e.OperationUnsupported: (400, "ConnectorOperationUnsupportedError"),
    e.InvalidInput: (400, "RequestValidationError"),
    e.PasswordRequired: (401, "UnauthorizedError"),
    e.LinkRefused: (410, "GoneError"),
    e.QuotaExceeded: (402, "RequestLimitError"),
    e.NotFound: (404, "EntityNotFoundError"),
    e.NameTaken: (409, "ConflictError"),
    e.PayloadTooLarge: (413, "PayloadTooLargeError"),
    e.RangeNotSatisfiable: (416, "RangeNotSatisfiableError"),
    e.InvalidState: (422, "InvalidStateError"),
    e.Busy: (503, "ServiceUnavailableError"),
    e.StorageUnavailable: (503, "ServiceUnavailableError"),
    e.InsufficientStorage: (507, "InsufficientStorageError"),
}

_HTTP_TYPES = {404: "EntityNotFoundError", 405: "MethodNotAllowedError"}


def status_of(exc: e.DomainError) -> tuple[int, str]:
    for cls in type(exc).__mro__:
        if cls in ERROR_TABLE:
            return ERROR_TABLE[cls]
    return 500, "InternalServerError"


def error_body(
    status: int, type_name: str, message: str, detail: object = None
) -> dict[str, object]:
    return {
        "status_code": status,
        "error": HTTPStatus(status).phrase,
        "type_name": type_name,
        "message": message,
        # The SDK's 402 model accepts only a string detail.
        "detail": message if detail is None or status == 402 else detail,
        "ref": f"https://developers.apideck.com/errors#{type_name.lower()}",
    }


def error_response(
    status: int,
    type_name: str,
    message: str,
    detail: object = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = error_body(status, type_name, message, detail)
    return JSONResponse(body, status_code=status, headers=headers)


async def domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, e.DomainError)
    status, type_name = status_of(exc)
    headers = {"Retry-After": "1"} if status == 503 else None
    return error_response(status, type_name, exc.message, exc.detail, headers)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    message = exc.detail or HTTPStatus(status).phrase
    if status == 404:
        message = f"no route for {request.method} {request.url.path}"
    type_name = _HTTP_TYPES.get(status, "RequestValidationError" if status < 500 else "ServerError")
    return error_response(status, type_name, message, headers=exc.headers)


async def client_left(request: Request, exc: Exception) -> Response:
    """The client hung up before its body was complete (Starlette's ClientDisconnect, from any
    route reading a body): nobody reads this answer; the request's log line records it."""
    request.app.state.services.metrics.bodies_cut.labels("client_gone").inc()
    message = "the client closed the connection before the request body was complete"
    return error_response(400, "RequestValidationError", message)


async def body_timeout(request: Request, exc: Exception) -> Response:
    """A request body cut off by its deadlines (pump.BodyTimeout); the rest of it may still come,
    so the connection closes. Nothing of the request was kept (a part is not recorded)."""
    request.app.state.services.metrics.bodies_cut.labels(getattr(exc, "reason", "idle")).inc()
    message = f"{exc}; nothing of the request was kept, send it again"
    return error_response(408, "RequestTimeoutError", message, headers={"Connection": "close"})


async def unexpected_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, OSError) and exc.errno in (errno.EMFILE, errno.ENFILE):
        # Out of descriptors is load, not a bug: one line, and the client may retry.
        log.warning("out of file descriptors on %s %s", request.method, request.url.path)
        message = "the server is out of file descriptors; retry soon"
        return error_response(503, "ServiceUnavailableError", message, headers={"Retry-After": "1"})
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "InternalServerError", "internal server error")
