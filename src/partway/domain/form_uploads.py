"""Whole-file uploads to a URL partway signs: what Uppy's S3 plugin asks for (`GET /s3/params`)
when it sends a file in one request rather than as an S3 multipart upload.

The plugin (`@uppy/aws-s3` 6.x, Companion mode) POSTs the file as an HTML form to the URL it is
given, with the form fields it is given, and tells nobody when it is done: so the URL is
partway's own, and the request that carries the bytes also finishes the upload. Asking for the
URL creates an ordinary (proxied) session of unknown size with one part as large as the store
and the server allow; the form's file is that part, and once it is in, the session is finished
like any other, so the file lands in its folder with the same checks (name, quota, hooks).

The URL is a capability like a direct part URL (domain/signed_parts.py): an HMAC of the server's
secret over the session, the tenant and an expiry, usable without credentials until it expires,
for that one session only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from .errors import LinkRefused, NotFound, PayloadTooLarge, WrongPartSize
from .models import Entry, NewSession, SessionState, Tenant, UploadSession
from .ports import Clock, Source
from .rules import PartRule
from .signing import Signer
from .uploads import UploadService

PURPOSE = "form-upload"
PATH = "/signed/uploads"
TICKET_TTL = timedelta(hours=1)


@dataclass(frozen=True)
class FormTicket:
    """Where the client sends the whole file: `url` (relative to partway's own address), as a
    form POST with `fields` before the file (or as the body of a PUT), until `expires`."""

    session: UploadSession
    url: str
    fields: dict[str, str]
    expires: datetime


def _signed(session_id: str, tenant: Tenant, expires: str) -> list[str]:
    return [PURPOSE, session_id, tenant.app_id, tenant.consumer_id, expires]


class FormUploads:
    def __init__(
        self, uploads: UploadService, signer: Signer, clock: Clock, ttl: timedelta = TICKET_TTL
    ) -> None:
        self._uploads = uploads
        self._signer = signer
        self._clock = clock
        self._ttl = ttl

    def largest(self, service_id: str) -> int:
        """The largest file one request may carry: one part, as large as both allow."""
        caps = self._uploads.storage(service_id).capabilities
        return min(self._uploads.policy.max_part_size, caps.max_part_size)

    async def create(
        self,
        tenant: Tenant,
        service_id: str,
        name: str,
        folder_id: str,
        drive_id: str | None,
        mime_type: str | None,
    ) -> FormTicket:
        """A session for one file of unknown size, and the signed URL that fills and finishes it."""
        req = NewSession(
            name=name,
            parent_folder_id=folder_id,
            size=None,
            drive_id=drive_id,
            mime_type=mime_type or None,
        )
        part_size = self.largest(service_id)
        session = await self._uploads.create(tenant, service_id, req, part_size=part_size)
        expires = int((self._clock() + self._ttl).timestamp())
        tag = self._signer.sign(*_signed(session.id, tenant, str(expires)))
        query = {
            "id": session.id,
            "app_id": tenant.app_id,
            "consumer_id": tenant.consumer_id,
            "expires": str(expires),
            "signature": tag,
        }
        url = f"{PATH}?{urlencode(query)}"
        return FormTicket(session, url, {"key": session.id}, datetime.fromtimestamp(expires, UTC))

    def check(self, session_id: str, tenant: Tenant, expires: str, tag: str) -> None:
        """NotFound for a URL this server did not sign, LinkRefused (410) for an expired one."""
        if not (expires.isascii() and expires.isdigit() and len(expires) <= 12):
            raise NotFound("this upload URL is not valid")
        if not self._signer.verify(tag, *_signed(session_id, tenant, expires)):
            raise NotFound("this upload URL is not valid")
        if int(expires) <= self._clock().timestamp():
            raise LinkRefused("this upload URL has expired")

    async def receive(
        self,
        tenant: Tenant,
        session_id: str,
        source: Source,
        length: int | None,
        most: int | None = None,
    ) -> Entry:
        """Write the whole file as the session's only part, then finish it. `length` is a PUT's
        body length; `most` what a form's Content-Length leaves for its file (counting what
        follows it): either over the limit is refused before the file is read. A finished
        session answers its file again (a retried request whose first answer was lost)."""
        session = await self._uploads.get(tenant, session_id, with_ranges=False)
        if session.direct:
            raise NotFound("this upload URL is not valid")
        if session.state is SessionState.FINISHED:
            return await self._uploads.finish(tenant, session_id, None)
        too_large = PayloadTooLarge(
            f"the file is larger than the {session.part_size} bytes one request may carry: "
            "send it as a multipart upload"
        )
        bound = length if length is not None else most
        if bound is not None and bound > session.part_size:
            raise too_large  # before a byte of the file is read
        try:
            await self._uploads.write_range(
                tenant, session_id, PartRule(0, self._uploads.policy), source, length, None
            )
        except WrongPartSize as exc:
            # A form states no file size: the write stops at the limit and records nothing.
            raise too_large from exc
        return await self._uploads.finish(tenant, session_id, None)
