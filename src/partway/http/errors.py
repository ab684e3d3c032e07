"""The Apideck front's error table (domain errors → status, Apideck type name, headers) and its
error body. Nothing else decides an error's status."""

from __future__ import annotations

import errno
import logging
from collections.abc import Mapping
from http import HTTPStatus

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..domain import errors as e
from ..domain import hooks
from .error_table import Answer, ErrorTable

log = logging.getLogger("partway.http")

_RETRY = {"Retry-After": "1"}
# A body cut off may still be arriving: the answer closes the connection.
_CLOSE = {"Connection": "close"}

APIDECK = ErrorTable(
    {
        e.Unauthorized: Answer(401, "UnauthorizedError"),
        e.MissingHeader: Answer(400, "RequestHeadersValidationError"),
        e.DigestMismatch: Answer(400, "RequestValidationError"),
        e.UnsupportedFilter: Answer(400, "UnsupportedFiltersError"),
        e.OperationUnsupported: Answer(400, "ConnectorOperationUnsupportedError"),
        e.InvalidInput: Answer(400, "RequestValidationError"),
        e.ClientGone: Answer(400, "RequestValidationError"),
        e.PasswordRequired: Answer(401, "UnauthorizedError"),
        e.QuotaExceeded: Answer(402, "RequestLimitError"),
        e.NotFound: Answer(404, "EntityNotFoundError"),
        e.BodyTimedOut: Answer(408, "RequestTimeoutError", _CLOSE),
        e.NameTaken: Answer(409, "ConflictError"),
        e.LinkRefused: Answer(410, "GoneError"),
        e.PayloadTooLarge: Answer(413, "PayloadTooLargeError"),
        e.RangeNotSatisfiable: Answer(416, "RangeNotSatisfiableError"),
        e.InvalidState: Answer(422, "InvalidStateError"),
        hooks.HookRefused: Answer(403, "ForbiddenError"),
        hooks.HookRefusedInput: Answer(400, "RequestValidationError"),
        hooks.HookRefusedState: Answer(422, "InvalidStateError"),
        hooks.HookUnavailable: Answer(503, "ServiceUnavailableError", _RETRY),
        e.Busy: Answer(503, "ServiceUnavailableError", _RETRY),
        e.StorageUnavailable: Answer(503, "ServiceUnavailableError", _RETRY),
        e.InsufficientStorage: Answer(507, "InsufficientStorageError"),
    },
    fallback=Answer(500, "InternalServerError"),
)

_HTTP_TYPES = {404: "EntityNotFoundError", 405: "MethodNotAllowedError"}


def status_of(exc: e.DomainError) -> tuple[int, str]:
    answer = APIDECK.answer(exc)
    return answer.status, answer.type_name


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
    if isinstance(exc, e.BodyCut):
        # Nobody may read the answer to a cut body; the metric and the request's log line tell.
        request.app.state.services.metrics.bodies_cut.labels(exc.reason).inc()
    answer = APIDECK.answer(exc)
    return error_response(
        answer.status, answer.type_name, exc.message, exc.detail, answer.headers or None
    )


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    message = exc.detail or HTTPStatus(status).phrase
    if status == 404:
        message = f"no route for {request.method} {request.url.path}"
    type_name = _HTTP_TYPES.get(status, "RequestValidationError" if status < 500 else "ServerError")
    return error_response(status, type_name, message, headers=exc.headers)


async def client_left(request: Request, exc: Exception) -> Response:
    """Starlette's ClientDisconnect (from any route reading a body) is the domain's ClientGone,
    answered by the table like any other error."""
    message = "the client closed the connection before the request body was complete"
    return await domain_error(request, e.ClientGone(message))


async def unexpected_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, OSError) and exc.errno in (errno.EMFILE, errno.ENFILE):
        # Out of descriptors is load, not a bug: one line, and the client may retry.
        log.warning("out of file descriptors on %s %s", request.method, request.url.path)
        message = "the server is out of file descriptors; retry soon"
        return error_response(503, "ServiceUnavailableError", message, headers={"Retry-After": "1"})
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "InternalServerError", "internal server error")
