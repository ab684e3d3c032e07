"""partway extension: the whole-file upload URLs of `GET /s3/params` (domain/form_uploads.py).

POST /signed/uploads?id=…&app_id=…&consumer_id=…&expires=…&signature=…
     a `multipart/form-data` body, as Uppy's S3 plugin and HTML forms send it: the fields
     partway handed out (`key`: the session id), then the field `file` with the bytes
PUT  the same URL, with the file as the body
Either answers 201 with the File object. The URL needs no credentials: its signature names the
tenant and the session, and expires."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..domain.errors import DomainError, InvalidInput
from ..domain.form_uploads import PATH
from ..domain.models import Tenant
from . import params
from .context import services_of
from .errors import domain_error
from .form_body import FormReader, boundary_of
from .render import entry_json, envelope


async def form_upload(request: Request) -> Response:
    try:
        return await _receive(request)
    except DomainError as exc:
        return await domain_error(request, exc)


async def _receive(request: Request) -> Response:
    services = services_of(request)
    query = request.query_params
    session_id = query.get("id", "")
    tenant = Tenant(query.get("app_id", ""), query.get("consumer_id", ""))
    forms = services.catalog.forms
    forms.check(session_id, tenant, query.get("expires", ""), query.get("signature", ""))
    most: int | None = None
    if request.method == "PUT":
        length = params.content_length(request)
        source = params.body_stream(request)
    else:
        reader = FormReader(
            params.body_stream(request), boundary_of(request.headers.get("content-type"))
        )
        fields = await reader.fields()
        if fields.get("key", session_id) != session_id:
            raise InvalidInput("the form's key field names another upload")
        length, source = None, reader.file()
        if (body_length := params.content_length(request)) is not None:
            most = reader.file_length_if_last(body_length)
    entry = await forms.receive(tenant, session_id, source, length, most)
    folders = await services.files.tree.ancestors(tenant, entry)
    service = entry.service_id or ""
    return envelope(request, 201, service, "Files", "finish", entry_json(entry, folders))


routes = [Route(PATH, form_upload, methods=["POST", "PUT"])]
