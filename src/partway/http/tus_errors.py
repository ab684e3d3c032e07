"""The tus/draft front's error table and its plain-text answers. tus clients read only the
status (tus-js-client retries 409 and 423, gives up on other 4xx), so the statuses follow the
tus protocol and the draft; the body says why, for people."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ..domain import errors as e
from ..domain.appends import LengthMismatch, OffsetMismatch
from .error_table import Answer, ErrorTable

TUS_RESUMABLE = "1.0.0"
_CLOSE = {"Connection": "close"}
_RETRY = {"Retry-After": "1"}


class UnsupportedVersion(e.InvalidInput):
    """A tus version other than 1.0.0."""


class UnsupportedMediaType(e.InvalidInput):
    """A PATCH whose body is not application/offset+octet-stream."""


TUS = ErrorTable(
    {
        UnsupportedVersion: Answer(412, "unsupported-version", {"Tus-Version": TUS_RESUMABLE}),
        UnsupportedMediaType: Answer(415, "unsupported-media-type"),
        e.Unauthorized: Answer(401, "unauthorized"),
        e.MissingHeader: Answer(400, "missing-header"),
        e.DigestMismatch: Answer(460, "checksum-mismatch"),
        LengthMismatch: Answer(400, "inconsistent-upload-length"),
        e.OperationUnsupported: Answer(400, "unsupported"),
        e.InvalidInput: Answer(400, "invalid-input"),
        e.ClientGone: Answer(400, "client-gone"),
        e.PasswordRequired: Answer(401, "unauthorized"),
        e.QuotaExceeded: Answer(413, "quota-exceeded"),
        e.NotFound: Answer(404, "not-found"),
        e.BodyTimedOut: Answer(408, "body-timed-out", _CLOSE),
        e.NameTaken: Answer(409, "name-taken"),
        OffsetMismatch: Answer(409, "mismatching-upload-offset"),
        e.LinkRefused: Answer(410, "gone"),
        e.PayloadTooLarge: Answer(413, "too-large"),
        e.WrongPartSize: Answer(413, "too-large"),
        e.RangeNotSatisfiable: Answer(416, "range"),
        # Finished, finishing or aborted meanwhile: nothing more may be appended.
        e.InvalidState: Answer(403, "invalid-state"),
        # tus-js-client retries a 423 (locked) without giving up.
        e.Busy: Answer(423, "locked", _RETRY),
        e.StorageUnavailable: Answer(503, "unavailable", _RETRY),
        e.InsufficientStorage: Answer(507, "insufficient-storage"),
    },
    fallback=Answer(500, "internal"),
)


def tus_error(request: Request, exc: e.DomainError) -> Response:
    if isinstance(exc, e.BodyCut):
        request.app.state.services.metrics.bodies_cut.labels(exc.reason).inc()
    answer = TUS.answer(exc)
    headers = {"Tus-Resumable": TUS_RESUMABLE, **answer.headers}
    return Response(
        f"{answer.type_name}: {exc.message}\n",
        status_code=answer.status,
        headers=headers,
        media_type="text/plain",
    )
